"""Export, serve and compress trained runs."""
