"""Plain data across the sandbox boundary: what a probe returns comes back intact or is
refused as bad_output, and the grader's decoder and request checks trust nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import protocol

pytestmark = LINUX_ONLY


def test_ok_roundtrip_keeps_dtypes_nan_inf_and_plain_values(tmp_path: Path) -> None:
    """Arrays keep dtype, NaN and inf; scalars, strings, None, lists, tuples and dicts survive."""
    a = np.array([1.5, np.nan, np.inf, -np.inf], dtype=np.float32)
    result = probe(
        make_impl(tmp_path),
        """
        import numpy as np
        def probe(tt, a, b, label, flags):
            return {
                "sum": tt.add(a, b), "int": 3, "float": 0.1, "nan": float("nan"), "bool": True,
                "str": "héllo", "none": None, "list": [1, 2.5, "x", None, [True]], "shape": (2, 3),
                "nested": {"grad": np.ones((2, 2), dtype=np.float64)}, "np_scalar": np.float32(2.5),
                "ints": np.arange(3, dtype=np.int64), "mask": np.array([True, False]),
                "echo": [label, flags],
            }
        """,
        {"a": a, "b": np.float32(1.0), "label": "lbl", "flags": [1, None]},
    )
    assert result.status == "ok", result
    values = result.values
    assert values["sum"].dtype == np.float32 and type(values["sum"]) is np.ndarray
    np.testing.assert_array_equal(values["sum"], a + np.float32(1.0))
    assert np.isnan(values["nan"]) and values["int"] == 3 and type(values["int"]) is int
    assert values["float"] == 0.1 and values["bool"] is True and values["none"] is None
    assert values["str"] == "héllo" and values["list"] == [1, 2.5, "x", None, [True]]
    assert values["shape"] == (2, 3)
    np.testing.assert_array_equal(values["nested"]["grad"], np.ones((2, 2)))
    assert values["np_scalar"].dtype == np.float32 and values["np_scalar"].shape == ()
    assert values["ints"].dtype == np.int64 and values["mask"].dtype == np.bool_
    assert values["echo"] == ["lbl", [1, None]]
    assert result.seconds > 0 and result.error_type is None


def test_ndarray_subclass_comes_back_as_plain_ndarray(tmp_path: Path) -> None:
    """An ndarray subclass (np.matrix, say) is converted to a plain ndarray, values kept."""
    result = probe(make_impl(tmp_path), "import numpy as np\ndef probe(tt):\n    return {'m': np.asmatrix(np.eye(2))}\n")
    assert result.status == "ok", result
    assert type(result.values["m"]) is np.ndarray
    np.testing.assert_array_equal(result.values["m"], np.eye(2))


@pytest.mark.parametrize(
    "expression",
    [
        "np.array([object(), 1], dtype=object)",
        "object()",
        "np.array([1 + 2j])",
        "{1: 2}",
        "np.array(['a', 'b'])",
        "tt",
    ],
)
def test_values_that_are_not_plain_data_are_bad_output(tmp_path: Path, expression: str) -> None:
    """Object or complex arrays, arbitrary objects and modules are rejected as bad_output."""
    source = f"import numpy as np\ndef probe(tt):\n    return {{'v': {expression}}}\n"
    result = probe(make_impl(tmp_path), source)
    assert result.status == "bad_output", result
    assert result.values == {} and result.error_message


def test_returning_a_non_dict_is_bad_output(tmp_path: Path) -> None:
    """The probe must return a dict; a list is reported, not crashed on."""
    result = probe(make_impl(tmp_path), "def probe(tt):\n    return [1, 2]\n")
    assert result.status == "bad_output" and "dict" in result.error_message, result


def test_author_mistakes_raise_in_the_grader(tmp_path: Path) -> None:
    """A probe that does not parse, a missing function or non-plain inputs fail loudly."""
    impl = make_impl(tmp_path)
    with pytest.raises(ValueError, match="does not parse"):
        probe(impl, "def probe(tt:\n")
    with pytest.raises(ValueError, match="no top-level function 'probe'"):
        probe(impl, "def other(tt):\n    return {}\n")
    with pytest.raises(ValueError, match="has type object"):
        probe(impl, "def probe(tt, x):\n    return {}\n", {"x": object()})


def _npz_with_header(header: str, payload: bytes = b"") -> bytes:
    """A one-member .npz whose .npy header is `header` (a dict literal), then `payload`."""
    npy = io.BytesIO()
    body = header.encode("latin1")
    padding = 64 - (10 + len(body) + 1) % 64
    npy.write(b"\x93NUMPY\x01\x00" + (len(body) + padding + 1).to_bytes(2, "little") + body + b" " * padding + b"\n")
    npy.write(payload)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a0.npy", npy.getvalue())
    return archive.getvalue()


@pytest.mark.parametrize(
    "npz",
    [
        _npz_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }"),
        _npz_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 8),
        _npz_with_header("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 16),
        b"PK\x03\x04garbage",
        b"not a zip at all",
    ],
    ids=["huge-shape", "object", "complex", "truncated-zip", "garbage"],
)
def test_malformed_array_archives_raise_plain_data_error(npz: bytes) -> None:
    """Decoding rejects oversized, object, complex and corrupt archives before allocating."""
    with pytest.raises(protocol.PlainDataError):
        protocol.decode({"v": {"A": "a0"}}, npz, 64 * 1024**2)


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000, b'{"v": {"Q": 1}}', b'{"v": {"A": "missing"}}', b"\xff\xfe", b'{"v": {"L": 1}}'],
    ids=["deep", "unknown-tag", "missing-array", "not-utf8", "bad-list"],
)
def test_malformed_json_raises_plain_data_error(data: bytes) -> None:
    """Deeply nested, mistagged or undecodable JSON is a PlainDataError, nothing else."""
    with pytest.raises(protocol.PlainDataError):
        protocol.decode(protocol.loads_json(data), b"", 1024)
