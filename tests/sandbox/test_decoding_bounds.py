"""Bounded decoding: a worker's result cannot push the grader's memory up, however many
members, nodes or levels it holds; the encoder refuses the same, with a message."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import protocol
from grader.sandbox.runner import PROJECT_ROOT

pytestmark = LINUX_ONLY

NPZ_CAP = 65 * 1024**2  # Limits().file_bytes + 1 MB, the cap runner passes

DECODE_AND_MEASURE = """
import json, sys, time
from grader.sandbox import protocol

def high_water_kb():  # this process's own peak RSS (VmHWM starts afresh at exec)
    with open("/proc/self/status") as handle:
        return int(next(line for line in handle if line.startswith("VmHWM:")).split()[1])

raw_json = open(sys.argv[1], "rb").read()
npz = open(sys.argv[2], "rb").read()
before = high_water_kb()
started = time.monotonic()
try:
    envelope = protocol.loads_json(raw_json)
    protocol.decode(envelope["values"], npz, int(sys.argv[3]))
    outcome = "accepted"
except protocol.PlainDataError as exc:
    outcome = "refused: " + str(exc)
print(json.dumps({"outcome": outcome, "added_mb": (high_water_kb() - before) / 1024, "seconds": time.monotonic() - started}))
"""


def _empty_npy() -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros(0, np.uint8))
    return buffer.getvalue()


def _archive(members: int) -> bytes:
    buffer = io.BytesIO()
    member = _empty_npy()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(members):
            archive.writestr(f"a{i}.npy", member)
    return buffer.getvalue()


def _lying_about_its_count(data: bytes) -> bytes:
    """The same archive with an end record claiming 5 entries (zipfile reads them all anyway)."""
    end = len(data) - 22
    return data[: end + 8] + struct.pack("<2H", 5, 5) + data[end + 12 :]


def _envelope(values: bytes) -> bytes:
    return b'{"status": "ok", "error_type": null, "error_message": "", "values": ' + values + b"}"


REFS = _envelope(b"{" + b", ".join(b'"k%d": {"A": "a%d"}' % (i, i) for i in range(50)) + b"}")
HOSTILE = {
    "60k_members": lambda: (REFS, _archive(60_000)),
    "60k_members_count_lies": lambda: (REFS, _lying_about_its_count(_archive(60_000))),
    "900k_tiny_objects": lambda: (_envelope(b'{"v": {"L": [' + b",".join([b'{"L":[]}'] * 900_000) + b"]}}"), b""),
    "2m_floats": lambda: (_envelope(b'{"v": {"L": [' + b",".join([b"0.5"] * 2_000_000) + b"]}}"), b""),
    "100k_levels": lambda: (_envelope(b'{"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), b""),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_results_are_refused_with_bounded_peak_memory(kind: str, tmp_path: Path) -> None:
    """Decoded in a fresh process as the grader does it: refused in well under a second,
    adding under 25 MB to the process's peak RSS (the 60k-member archive alone took 89 MB
    and 3.5 s before the member count was checked; 900k tiny objects took 300 MB)."""
    raw_json, npz = HOSTILE[kind]()
    (tmp_path / "r.json").write_bytes(raw_json)
    (tmp_path / "r.npz").write_bytes(npz)
    done = subprocess.run(
        [sys.executable, "-c", DECODE_AND_MEASURE, str(tmp_path / "r.json"), str(tmp_path / "r.npz"), str(NPZ_CAP)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=100,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout)
    assert outcome["outcome"].startswith("refused"), outcome
    assert outcome["added_mb"] < 25 and outcome["seconds"] < 1.0, outcome


def test_a_legitimate_result_near_the_limits_is_accepted() -> None:
    """The bounds leave room for what probes return: 5000 arrays, 50,000 lists, a 4 MB log."""
    values = {"arrays": [np.float64(i) for i in range(5000)], "pairs": [[i, i + 1] for i in range(50_000)], "log": "{}" * (2 * 1024**2)}
    tree, npz = protocol.encode(values, NPZ_CAP)
    decoded = protocol.decode(protocol.loads_json(protocol.dumps_json(tree)), npz, NPZ_CAP)
    assert len(decoded["arrays"]) == 5000 and decoded["pairs"][-1] == [49_999, 50_000] and len(decoded["log"]) == 4 * 1024**2


@pytest.mark.parametrize("returned,limit", [
    ("[np.float64(i) for i in range(10_001)]", "more than 10000 arrays or NumPy scalars"),
    ("[[i] for i in range(100_001)]", "more than 100000 lists, tuples and dicts"),
])
def test_too_many_arrays_or_lists_are_bad_output_naming_the_limit(returned: str, limit: str, tmp_path: Path) -> None:
    """The worker's encoder refuses what the grader's decoder would, and says what to do."""
    result = probe(make_impl(tmp_path), f"import numpy as np\ndef probe(tt):\n    return {{'v': {returned}}}\n")
    assert result.status == "bad_output" and limit in result.error_message, result


def test_a_flood_written_over_the_result_channel_is_bad_output(tmp_path: Path) -> None:
    """Code in the worker that writes a 60k-member archive and a JSON naming its members over
    the worker's own result descriptors, then exits: bad_output, decided at once."""
    result = probe(
        make_impl(tmp_path),
        """
        import os, stat

        def _regular(fd):
            try:
                return stat.S_ISREG(os.fstat(fd).st_mode)
            except OSError:
                return False

        def probe(tt, flood, envelope):
            json_fd, npz_fd = [fd for fd in range(3, 64) if _regular(fd)][:2]
            os.pwrite(npz_fd, flood.tobytes(), 0)
            os.pwrite(json_fd, envelope.tobytes(), 0)
            os._exit(0)
        """,
        {"flood": np.frombuffer(_archive(60_000), np.uint8), "envelope": np.frombuffer(REFS, np.uint8)},
    )
    assert result.status == "bad_output" and "array archive declares 60000 arrays" in result.error_message, result
