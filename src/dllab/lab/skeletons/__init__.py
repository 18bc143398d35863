"""What `dllab lab start NAME` writes: one file per exercise, stubs of one uniform line."""
