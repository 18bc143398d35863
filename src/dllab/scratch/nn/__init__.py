"""The twin of `torch.nn`: `import dllab.scratch.nn as nn` reads like `import torch.nn as nn`.

differs from torch: constructors take `dtype=` but no `device=` (NumPy runs on the CPU).
"""

from dllab.scratch.nn import functional, init
from dllab.scratch.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from dllab.scratch.nn.attention import MultiheadAttention
from dllab.scratch.nn.layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    MaxPool2d,
)
from dllab.scratch.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from dllab.scratch.nn.module import Module, ModuleList, Parameter, Sequential
from dllab.scratch.nn.rnn import GRU, LSTM, RNN

__all__ = [
    "functional", "init", "Module", "Parameter", "Sequential", "ModuleList",
    "Identity", "Linear", "Flatten", "Conv2d", "MaxPool2d", "AvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Embedding",
    "RNN", "LSTM", "GRU", "MultiheadAttention",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "MSELoss", "NLLLoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
]  # fmt: skip
