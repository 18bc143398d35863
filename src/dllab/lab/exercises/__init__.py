"""One grader per exercise: `NAME.py` defines `make_case(index, rng) -> Case`.

Graders run only in the child process started by `grader.py` (they import torch); what the
command line needs to know about an exercise lives in `catalog.py`.
"""
