"""The twin of `torch.optim`: SGD, Adam, AdamW, RMSprop, LAMB and `lr_scheduler`."""

from dllab.scratch.optim import lr_scheduler
from dllab.scratch.optim.optimizer import LAMB, SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LAMB", "lr_scheduler"]
