"""`dllab.scratch.nn.functional` is `dllab.scratch.functional`, as `torch.nn.functional`."""

from dllab.scratch.functional import *  # noqa: F403
from dllab.scratch.functional import __all__  # noqa: F401
