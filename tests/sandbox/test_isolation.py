"""Isolation: the worker reads and writes only its own box, cannot reach the grader, and
sees a fixed, minimal environment."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from sandbox_kit import LINUX_ONLY, SECRET_FIXTURE, SECRET_TEXT, make_impl, probe

from grader.sandbox import LANDLOCK_ABI
from grader.sandbox.runner import PROJECT_ROOT, RUNS_AS_ROOT

pytestmark = LINUX_ONLY


READ_PROBE = """
def probe(tt, paths):
    out = {}
    for path in paths:
        try:
            with open(path) as handle:
                out[path] = "READ:" + handle.read()
        except Exception as exc:
            out[path] = type(exc).__name__
    return {"results": out}
"""


def test_files_outside_the_sandbox_cannot_be_read(tmp_path: Path) -> None:
    """Secrets beside the sandbox, in the repo and the original package are unreadable."""
    outside = tmp_path / "outside" / "labels.txt"
    outside.parent.mkdir()
    outside.write_text(SECRET_TEXT)
    impl = make_impl(tmp_path)
    assert SECRET_FIXTURE.read_text().strip() == SECRET_TEXT
    paths = [str(outside), str(SECRET_FIXTURE), str(impl / "tinytorch" / "__init__.py"), str(PROJECT_ROOT / "pyproject.toml")]
    result = probe(impl, READ_PROBE, {"paths": paths})
    assert result.status == "ok", result
    for path, outcome in result.values["results"].items():
        assert outcome in ("PermissionError", "FileNotFoundError"), f"{path} was readable: {outcome[:60]!r}"
    if LANDLOCK_ABI > 0:
        assert result.values["results"][str(outside)] == "PermissionError"


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="DAC-protected files are readable by their non-root owner")
def test_root_only_files_cannot_be_read(tmp_path: Path) -> None:
    """As root the grader drops the worker's uid: /etc/shadow and /root stay closed."""
    result = probe(make_impl(tmp_path), READ_PROBE, {"paths": ["/etc/shadow", "/root/.bashrc"]})
    assert result.status == "ok", result
    assert set(result.values["results"].values()) <= {"PermissionError", "FileNotFoundError"}, result.values


def test_package_copy_is_readable_and_grader_modules_are_not_importable(tmp_path: Path) -> None:
    """The worker reads its own copy of tinytorch, yet cannot import the grader."""
    result = probe(
        make_impl(tmp_path),
        """
        import os
        def probe(tt):
            try:
                import grader.sandbox.runner
                grader_import = "imported"
            except BaseException as exc:
                grader_import = type(exc).__name__
            return {"file": tt.__file__, "cwd": os.getcwd(), "grader": grader_import}
        """,
    )
    assert result.status == "ok", result
    assert result.values["file"] == os.path.join(result.values["cwd"], "tinytorch", "__init__.py")
    assert result.values["grader"] != "imported"


def test_writes_outside_the_work_dir_fail(tmp_path: Path) -> None:
    """Writing beside the sandbox or into the repo fails; the work dir itself is writable."""
    targets = [tmp_path / "pwned.txt", PROJECT_ROOT / "tests" / "sandbox_cases" / f"pwned-{uuid.uuid4().hex}.txt"]
    result = probe(
        make_impl(tmp_path),
        """
        def probe(tt, paths):
            out = {}
            for path in [*paths, "inside.txt"]:
                try:
                    with open(path, "w") as handle:
                        handle.write("pwned")
                    out[path] = "WROTE"
                except Exception as exc:
                    out[path] = type(exc).__name__
            return {"results": out}
        """,
        {"paths": [str(t) for t in targets]},
    )
    assert result.status == "ok", result
    assert result.values["results"]["inside.txt"] == "WROTE"
    for target in targets:
        assert not target.exists(), f"sandboxed code created {target}"
        assert result.values["results"][str(target)] in ("PermissionError", "FileNotFoundError", "OSError")


def test_grader_process_cannot_be_signalled(tmp_path: Path) -> None:
    """The worker may not signal its parent, the grader (probed with the harmless signal 0)."""
    if not RUNS_AS_ROOT and LANDLOCK_ABI < 6:
        pytest.skip("without a uid drop or Landlock signal scoping the worker shares the grader's uid")
    result = probe(
        make_impl(tmp_path),
        """
        import os
        def probe(tt):
            try:
                os.kill(os.getppid(), 0)
                return {"kill": "allowed"}
            except Exception as exc:
                return {"kill": type(exc).__name__}
        """,
    )
    assert result.status == "ok" and result.values["kill"] == "PermissionError", result


def test_forged_result_written_to_inherited_fds_is_bad_output(tmp_path: Path) -> None:
    """Garbage written over the worker's result channel is bad_output, never a grader error."""
    impl = make_impl(
        tmp_path,
        """
        import os
        for fd in range(3, 1024):
            try:
                os.pwrite(fd, b'{"status": "ok", "values": {"v": {"A": "a0"}}}', 0)
            except OSError:
                pass
        os._exit(0)
        """,
    )
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "bad_output", result


def test_symlinked_package_is_refused(tmp_path: Path) -> None:
    """impl_dir/tinytorch as a symlink (e.g. to the reference solution) is not followed."""
    real = make_impl(tmp_path, name="real")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "tinytorch").symlink_to(real / "tinytorch")
    result = probe(linked, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and "symlink" in result.error_message, result


def test_extra_files_are_importable_by_the_probe(tmp_path: Path) -> None:
    """`files` are copied beside tinytorch, e.g. a milestone script the probe imports."""
    script = tmp_path / "recipe_source.py"
    script.write_text("def steps():\n    return 7\n")
    result = probe(
        make_impl(tmp_path),
        "import importlib\ndef probe(tt):\n    return {'steps': importlib.import_module('recipe').steps()}\n",
        files={"recipe.py": script},
    )
    assert result.status == "ok" and result.values["steps"] == 7, result


def test_same_probe_twice_gives_identical_results(tmp_path: Path) -> None:
    """Hash seeds and random generators are fixed, so reruns agree exactly."""
    source = """
    import random
    import numpy as np
    def probe(tt):
        return {"hash": hash("tinytorch"), "order": list({"relu", "tanh", "sigmoid", "softmax"}),
                "np": np.random.rand(3), "py": random.random()}
    """
    impl = make_impl(tmp_path)
    first, second = probe(impl, source), probe(impl, source)
    assert first.status == second.status == "ok", (first, second)
    assert first.values["hash"] == second.values["hash"] and first.values["order"] == second.values["order"]
    assert first.values["py"] == second.values["py"]
    np.testing.assert_array_equal(first.values["np"], second.values["np"])


def test_worker_environment_is_minimal(tmp_path: Path) -> None:
    """The worker sees only the documented environment, not the grader's."""
    os.environ["TINYTORCH_SANDBOX_TEST_LEAK"] = "leaked"
    try:
        result = probe(make_impl(tmp_path), "import os\ndef probe(tt):\n    return {'env': dict(os.environ)}\n")
    finally:
        del os.environ["TINYTORCH_SANDBOX_TEST_LEAK"]
    assert result.status == "ok", result
    env = result.values["env"]
    assert "TINYTORCH_SANDBOX_TEST_LEAK" not in env
    assert env["PYTHONHASHSEED"] == "0" and env["OPENBLAS_NUM_THREADS"] == "1" and env["PATH"] == "/usr/bin:/bin"
