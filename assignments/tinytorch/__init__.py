# tinytorch/__init__.py: part of your tinytorch, provided as is (nothing to complete here).
# Generated from the reference solution by `grader stubs build`.
"""tinytorch: a NumPy-only deep-learning library, built module by module.

    import tinytorch as tt
    model = tt.Sequential(tt.Linear(64, 32), tt.ReLU(), tt.Linear(32, 10))

Module 01 tensor · 02 activations · 03 layers · 04 losses · 05 data ·
06 autograd · 07 optim · 08 training. The API is described in each module's docstrings.
"""
from ._random import manual_seed
from .autograd import no_grad, is_grad_enabled
from .tensor import Tensor
from .activations import ReLU, Sigmoid, Tanh, Softmax
from .layers import Module, Linear, Sequential, Flatten
from .losses import softmax, log_softmax, CrossEntropyLoss, MSELoss
from .data import Dataset, TensorDataset, DataLoader
from .optim import Optimizer, SGD, Adam
from .training import accuracy, Trainer

__all__ = [
    "manual_seed", "no_grad", "is_grad_enabled", "Tensor",
    "ReLU", "Sigmoid", "Tanh", "Softmax",
    "Module", "Linear", "Sequential", "Flatten",
    "softmax", "log_softmax", "CrossEntropyLoss", "MSELoss",
    "Dataset", "TensorDataset", "DataLoader",
    "Optimizer", "SGD", "Adam",
    "accuracy", "Trainer",
]
