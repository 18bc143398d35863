"""The course's user-facing error: an unknown module, a page that would overwrite a file…"""

from dllab.errors import DllabError


class CourseError(DllabError):
    """A mistake in what the learner asked `dllab course` or `dllab progress` to do."""
