"""Plain data across the sandbox boundary: the only thing a worker and the grader exchange.

A dict of plain values travels as two byte strings:

- JSON (a tree): null, booleans, ints, floats (NaN and +-inf included), strings, and tagged
  nodes `{"L": [...]}` (list), `{"T": [...]}` (tuple), `{"D": {...}}` (dict with str keys),
  `{"A": "a3"}` (a reference to an array);
- an uncompressed `.npz` archive holding the arrays, read with `allow_pickle=False`.

Arrays may only have bool, int, uint or float dtypes; NumPy scalars become 0-d arrays, and
ndarray subclasses become plain ndarrays. Encoding (in the worker) rejects anything else
with `PlainDataError` naming the key path and the type. Decoding (in the grader) trusts
nothing: every size is capped before anything is allocated, and any malformed input raises
`PlainDataError`, never anything else.

Bounds, the same on both sides (the encoder refuses, with a message, what the decoder would):
MAX_JSON_BYTES of JSON; MAX_NODES values and MAX_CONTAINERS JSON containers (a list, tuple
or dict is two), counted in the raw JSON, outside strings, before it is parsed; MAX_DEPTH
levels; MAX_ARRAYS arrays, counted in the archive's central directory before zipfile builds
anything; the arrays' bytes within the caller's cap. Decoding the worst a worker can write
keeps the grader within a few tens of MB (a flood of 300,000 empty archive members took
16 s and 640 MB before these bounds).

This module imports only the standard library and NumPy, because the worker loads it by
file path before it locks itself down.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

Array = np.ndarray
Tree = Any  # a JSON-compatible encoding of one plain value

ALLOWED_DTYPE_KINDS = "biuf"
MAX_JSON_BYTES = 8 * 1024**2
MAX_DEPTH = 32
MAX_NODES = 1_000_000
MAX_CONTAINERS = 200_000
MAX_ARRAYS = 10_000
MAX_MESSAGE_CHARS = 500
_ENVELOPE = 64  # the worker's envelope around the values: a few more fields and objects
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{,]')
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP_DIRECTORY_ENTRY = b"PK\x01\x02"

# Statuses a worker may report itself; "timeout" and "crashed" are decided by the grader.
WORKER_STATUSES = ("ok", "not_implemented", "import_error", "raised", "bad_output", "setup_failed")


class PlainDataError(ValueError):
    """A value is not plain data, or an encoded payload is malformed or too large."""


def encode(values: Mapping[str, Any], max_array_bytes: int) -> tuple[Tree, bytes]:
    """Encode a dict of plain values as (JSON tree, npz bytes); npz bytes are b"" without arrays.

    Raises PlainDataError naming the key path, e.g. "value ['grads'][1] has type Tensor".
    """
    if type(values) is not dict:
        raise PlainDataError(f"expected a dict of plain values, got {_type_name(values)}")
    encoder = _Encoder(max_array_bytes)
    tree = {}
    for key, value in values.items():
        if type(key) is not str:
            raise PlainDataError(f"keys must be str, got key {_short_repr(key)} of type {_type_name(key)}")
        tree[key] = encoder.encode(value, f"[{key!r}]", 0)
    size = len(dumps_json(tree))
    if size > MAX_JSON_BYTES:
        raise PlainDataError(f"non-array values take {size} bytes as JSON; the limit is {MAX_JSON_BYTES}")
    return tree, npz_bytes(encoder.arrays)


def decode(tree: Tree, npz_data: bytes, max_array_bytes: int) -> dict[str, Any]:
    """Decode what `encode` produced; raise PlainDataError for anything malformed or oversized."""
    if type(tree) is not dict:
        raise PlainDataError(f"expected a JSON object of values, got {_type_name(tree)}")
    arrays = load_npz(npz_data, max_array_bytes) if npz_data else {}
    decoder = _Decoder(arrays)
    return {_checked_key(key): decoder.decode(node, 0) for key, node in tree.items()}


def npz_bytes(arrays: Mapping[str, Array]) -> bytes:
    """An uncompressed .npz archive of `arrays`, or b"" when there are none."""
    if not arrays:
        return b""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_npz(data: bytes, max_bytes: int) -> dict[str, Array]:
    """Load an .npz archive with allow_pickle=False after checking every declared size.

    Each member's header (dtype, shape) is read first; an object or non-numeric dtype, or a
    shape whose byte count exceeds the member or the `max_bytes` budget, is rejected before
    NumPy allocates anything.
    """
    if len(data) > max_bytes + 1024**2:
        raise PlainDataError(f"array archive has {len(data)} bytes; the limit is {max_bytes}")
    _count_members(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes + 1024 * len(infos):
            raise PlainDataError(f"array archive declares {declared} bytes; the limit is {max_bytes}")
        for info in infos:
            _check_npy_member(archive, info)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        for name, array in arrays.items():
            _check_array(array, f"array {name!r}")
    except PlainDataError:
        raise
    except Exception as exc:  # zipfile, NumPy and struct errors of every kind
        raise PlainDataError(f"malformed array archive: {type(exc).__name__}: {_short_repr(str(exc))}") from None
    return arrays


def dumps_json(obj: Any) -> bytes:
    """Compact ASCII JSON (NaN and inf allowed) of grader-made data."""
    return json.dumps(obj, allow_nan=True, ensure_ascii=True).encode("ascii")


def loads_json(data: bytes) -> Any:
    """Parse JSON defensively: size-capped, and every parser error becomes PlainDataError."""
    if len(data) > MAX_JSON_BYTES + 4096:
        raise PlainDataError(f"JSON payload has {len(data)} bytes; the limit is {MAX_JSON_BYTES}")
    _count_tokens(data)
    try:
        return json.loads(data.decode("utf-8"))
    except Exception as exc:  # UnicodeDecodeError, JSONDecodeError, RecursionError, ValueError
        raise PlainDataError(f"malformed JSON: {type(exc).__name__}: {_short_repr(str(exc))}") from None


def _count_tokens(data: bytes) -> None:
    """Refuse JSON with more than MAX_CONTAINERS containers or MAX_NODES values before parsing
    it (parsing is where a flood of tiny nodes costs memory). The raw counts, an upper bound,
    decide alone when they are under the limits; otherwise the JSON is scanned, strings
    skipped, until a limit is crossed (a bounded number of steps, nothing kept)."""
    container_limit, value_limit = MAX_CONTAINERS + _ENVELOPE, MAX_NODES + _ENVELOPE
    if data.count(b"{") + data.count(b"[") <= container_limit and data.count(b",") < value_limit:
        return
    containers = values = strings = 0
    for match in _JSON_TOKEN.finditer(data):
        first = data[match.start()]
        if first == 0x22:  # '"': a key or a string value, skipped whole
            strings += 1
            if strings > 2 * value_limit:  # more than every key and value being a string
                raise PlainDataError(f"JSON payload has more than {2 * MAX_NODES} strings")
        elif first == 0x2C:  # ','
            values += 1
        else:
            containers += 1
        if containers > container_limit:
            raise PlainDataError(f"JSON payload has more than {MAX_CONTAINERS} lists and objects")
        if values >= value_limit:
            raise PlainDataError(f"JSON payload has more than {MAX_NODES} values")


def _count_members(data: bytes) -> int:
    """Entries of a ZIP archive, counted the way zipfile reads its central directory but
    without building anything; PlainDataError past MAX_ARRAYS or for an archive NumPy does
    not write (a comment, ZIP64 end records, a directory outside the data)."""
    end = len(data) - 22
    if end < 0 or data[end : end + 4] != _ZIP_END or data[-2:] != b"\0\0":
        raise PlainDataError("array archive does not end with a plain ZIP end-of-directory record")
    if end >= 20 and data[end - 20 : end - 16] == _ZIP64_LOCATOR:
        raise PlainDataError("array archive uses ZIP64 end records")
    disk, disk_with_directory, on_disk, total, size, _offset = struct.unpack("<4H2L", data[end + 4 : end + 20])
    if disk or disk_with_directory or on_disk != total or total > MAX_ARRAYS:
        raise PlainDataError(f"array archive declares {total} arrays; the limit is {MAX_ARRAYS}")
    position, count = end - size, 0
    if position < 0:
        raise PlainDataError("array archive's directory lies outside it")
    while position < end:  # as zipfile: entries until the declared directory size is used up
        if count >= MAX_ARRAYS:
            raise PlainDataError(f"array archive holds more than {MAX_ARRAYS} arrays")
        header = data[position : position + 46]
        if len(header) < 46 or header[:4] != _ZIP_DIRECTORY_ENTRY:
            raise PlainDataError("array archive has a malformed directory entry")
        name, extra, comment = struct.unpack("<3H", header[28:34])
        position += 46 + name + extra + comment
        count += 1
    return count


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters, with a marker when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 15] + " ...[truncated]"


class _Encoder:
    """Turns student values into a JSON tree plus named arrays (worker side)."""

    def __init__(self, max_array_bytes: int) -> None:
        self.arrays: dict[str, Array] = {}
        self.array_bytes = 0
        self.max_array_bytes = max_array_bytes
        self.nodes = 0
        self.containers = 0

    def encode(self, value: Any, where: str, depth: int) -> Tree:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise PlainDataError(f"more than {MAX_NODES} values in the result (at {where})")
        if depth > MAX_DEPTH:
            raise PlainDataError(f"value {where} is nested deeper than {MAX_DEPTH} levels")
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if kind in (list, tuple, dict):
            self.containers += 2  # {"L": [...]}: an object and a list in the JSON
            if self.containers > MAX_CONTAINERS:
                raise PlainDataError(
                    f"more than {MAX_CONTAINERS // 2} lists, tuples and dicts in the result (at {where}); "
                    "return an array instead"
                )
        if kind is list or kind is tuple:
            tag = "L" if kind is list else "T"
            return {tag: [self.encode(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]}
        if kind is dict:
            out = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise PlainDataError(f"dict {where} has key {_short_repr(key)} of type {_type_name(key)}; keys must be str")
                out[key] = self.encode(item, f"{where}[{key!r}]", depth + 1)
            return {"D": out}
        if isinstance(value, (np.ndarray, np.generic)):
            return {"A": self._add_array(value, where)}
        raise PlainDataError(
            f"value {where} has type {_type_name(value)}; expected ndarray, NumPy scalar, int, float, "
            "bool, str, None, or a list/tuple/dict of those"
        )

    def _add_array(self, value: Any, where: str) -> str:
        if len(self.arrays) >= MAX_ARRAYS:
            raise PlainDataError(
                f"more than {MAX_ARRAYS} arrays or NumPy scalars in the result (at {where}); "
                "return one array (or Python floats) instead of many NumPy scalars"
            )
        array = np.array(value, copy=True).view(np.ndarray)
        _check_array(array, f"array {where}")
        self.array_bytes += array.nbytes
        if self.array_bytes > self.max_array_bytes:
            raise PlainDataError(
                f"arrays in the result take more than {self.max_array_bytes} bytes (at {where}, shape {array.shape})"
            )
        name = f"a{len(self.arrays)}"
        self.arrays[name] = array
        return name


class _Decoder:
    """Turns a JSON tree plus loaded arrays back into plain values (grader side)."""

    def __init__(self, arrays: Mapping[str, Array]) -> None:
        self.arrays = arrays
        self.nodes = 0

    def decode(self, node: Tree, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise PlainDataError(f"result has more than {MAX_NODES} values or {MAX_DEPTH} levels")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict or len(node) != 1:
            raise PlainDataError(f"unexpected JSON node of type {_type_name(node)}")
        ((tag, body),) = node.items()
        if tag in ("L", "T") and type(body) is list:
            items = [self.decode(item, depth + 1) for item in body]
            return items if tag == "L" else tuple(items)
        if tag == "D" and type(body) is dict:
            return {_checked_key(key): self.decode(item, depth + 1) for key, item in body.items()}
        if tag == "A" and type(body) is str and body in self.arrays:
            return self.arrays[body]
        raise PlainDataError(f"unexpected JSON node tag {_short_repr(tag)}")


def _check_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Validate one .npy member's header against its declared size without reading the data."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise PlainDataError(f"array {info.filename!r} has unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise PlainDataError(f"array {info.filename!r} has dtype {dtype}; only bool/int/uint/float are allowed")
    if any(type(dim) is not int or dim < 0 for dim in shape):
        raise PlainDataError(f"array {info.filename!r} has invalid shape {shape!r}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        raise PlainDataError(f"array {info.filename!r} declares {nbytes} bytes but holds {info.file_size}")


def _check_array(array: Any, where: str) -> None:
    if type(array) is not np.ndarray:
        raise PlainDataError(f"{where} is a {_type_name(array)}, not an ndarray")
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise PlainDataError(f"{where} has dtype {dtype}; only bool, int, uint and float arrays are plain data")


def _checked_key(key: Any) -> str:
    if type(key) is not str:
        raise PlainDataError(f"dict key of type {_type_name(key)}; keys must be str")
    return key


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", "?")
    return name if module in ("builtins", None, "") else f"{module}.{name}"


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except BaseException:  # a student's __repr__ may do anything
        text = f"<unprintable {type(value).__qualname__}>"
    return truncate(text, limit)
