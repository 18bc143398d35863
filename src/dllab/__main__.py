"""`python -m dllab` is the same as the `dllab` command (and is what `torchrun -m dllab` runs)."""

from dllab.cli import main

if __name__ == "__main__":
    main()
