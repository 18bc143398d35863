"""`dllab.scratch.nn.init` is `dllab.scratch.init`, as `torch.nn.init`."""

from dllab.scratch.init import *  # noqa: F403
from dllab.scratch.init import __all__  # noqa: F401
