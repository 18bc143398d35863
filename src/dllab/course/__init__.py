"""The course: the stage's modules and projects in teaching order, and where the learner stands.

`dllab course` draws the map (each module's lessons, lab exercises and project recipes, with a
status), `dllab course next` prints the one command to run next, and `dllab progress` shows
the stage's 14-item acceptance checklist with the lessons, exercises and runs behind each item
(as text, or as an HTML page). See `syllabus.py` for what goes where, `state.py` for how the
status is worked out from the lab workspace, the lessons folder and the runs folder.
"""

from dllab.course.state import Course, read_course
from dllab.course.syllabus import STAGES, Stage, get_stage

__all__ = ["STAGES", "Course", "Stage", "get_stage", "read_course"]
