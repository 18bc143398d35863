"""The lab's user-facing error: a mistake in what the learner asked the lab to do."""

from dllab.errors import DllabError


class LabError(DllabError):
    """An unknown exercise, a missing or existing file, a solution asked for too early…"""
