"""The lab: exercises that a learner writes and that are graded against PyTorch.

`dllab lab start NAME` writes a skeleton, `dllab lab check NAME` grades it on cases generated
at check time (references here, the learner's code in a limited child: `sandbox.py`), `dllab lab hint NAME` reveals hints one at a time, `dllab
lab solution NAME` shows the reference once the exercise has passed, and `dllab progress`
prints the stage's acceptance checklist. See `catalog.py` for the exercises.
"""

from dllab.lab.catalog import EXERCISES, Exercise, get_exercise
from dllab.lab.checklist import ITEMS
from dllab.lab.grader import Report, grade

__all__ = ["EXERCISES", "ITEMS", "Exercise", "Report", "get_exercise", "grade"]
