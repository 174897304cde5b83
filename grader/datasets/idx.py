"""Read and write IDX files, the format of the original MNIST distribution.

An IDX file is: two zero bytes, one type byte (0x08 = uint8, ...), one byte giving the
number of axes k, k big-endian uint32 axis lengths, then the values in C order (big-endian).
MNIST images are `(N, 28, 28)` uint8 and labels `(N,)` uint8. Files may be gzipped.

    >>> images = read_idx_file(Path("train-images-idx3-ubyte.gz"))   # (60000, 28, 28) uint8
    >>> encode_idx(images[:2])                                        # bytes of a 2-image file
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .digits import DatasetError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def maybe_gunzip(data: bytes, what: str) -> bytes:
    """`data` decompressed if it starts with the gzip magic bytes, else unchanged."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"decode_idx: {what} is a damaged gzip file ({e})") from e


def decode_idx(data: bytes, what: str = "data") -> np.ndarray:
    """Parse IDX bytes (gzipped or not) -> array with the stored shape, native byte order.

    what: names the file in error messages.
    """
    data = maybe_gunzip(data, what)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"decode_idx: {what} is not an IDX file "
                           f"(starts with {data[:4].hex() or 'nothing'}, expected 0000<type><ndim>)")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_TYPES:
        raise DatasetError(f"decode_idx: {what} has unknown IDX type 0x{type_code:02x}")
    dtype = IDX_TYPES[type_code]
    body = 4 + 4 * ndim
    if len(data) < body:
        raise DatasetError(f"decode_idx: {what} is truncated inside its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = body + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetError(f"decode_idx: {what} has {len(data)} bytes, expected {expected} "
                           f"for shape {shape} of {dtype}")
    return np.frombuffer(data, dtype=dtype, offset=body).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_file(path: Path) -> np.ndarray:
    """Read an IDX file, gzipped or not (detected from its first bytes) -> array."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DatasetError(f"read_idx_file: cannot read {path}: {e.strerror or e}") from e
    return decode_idx(data, str(path))


def encode_idx(a: np.ndarray) -> bytes:
    """IDX bytes (not gzipped) for an array whose dtype is one of `IDX_TYPES`."""
    for code, dtype in IDX_TYPES.items():
        if np.dtype(a.dtype).newbyteorder("=") == dtype.newbyteorder("="):
            header = bytes([0, 0, code, a.ndim]) + b"".join(n.to_bytes(4, "big") for n in a.shape)
            return header + np.ascontiguousarray(a, dtype=dtype).tobytes()
    raise DatasetError(f"encode_idx: dtype {a.dtype} has no IDX type code")
