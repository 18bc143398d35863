"""dllab: a deep-learning lab — a tested library, a command line and lessons."""

__version__ = "0.1.0"
