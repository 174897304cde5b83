"""Datasets for the course: TinyDigits (committed, 8x8) and MNIST (fetched once, 28x28).

    >>> from grader.datasets import load_tinydigits, load_mnist
    >>> tiny = load_tinydigits()          # Digits: (1000, 8, 8) / (200, 8, 8) uint8, pixel_max 16
    >>> mnist = load_mnist(log=print)     # Digits: (60000, 28, 28) / (10000, 28, 28), pixel_max 255

Both return `Digits` and raise `DatasetError` with a message saying what to do.
"""
from .digits import DatasetError, Digits
from .mnist import load_mnist
from .tinydigits import load_tinydigits

__all__ = ["Digits", "DatasetError", "load_tinydigits", "load_mnist"]
