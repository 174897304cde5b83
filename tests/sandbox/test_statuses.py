"""Student failures: every way student code can fail maps to one status with its message."""

from __future__ import annotations

from pathlib import Path

from sandbox_kit import LINUX_ONLY, make_impl, probe

pytestmark = LINUX_ONLY


def test_not_implemented_in_call_reports_its_message(tmp_path: Path) -> None:
    """NotImplementedError inside the call -> not_implemented, with the stub's message."""
    impl = make_impl(tmp_path, 'def add(a, b):\n    raise NotImplementedError("Module 06: Mul backward")\n')
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert (result.status, result.error_type, result.error_message) == (
        "not_implemented",
        "NotImplementedError",
        "Module 06: Mul backward",
    )


def test_not_implemented_at_import_is_not_implemented(tmp_path: Path) -> None:
    """A package that raises NotImplementedError while importing is simply not started."""
    impl = make_impl(tmp_path, 'raise NotImplementedError("Module 01: Tensor")\n')
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "not_implemented" and result.error_message == "Module 01: Tensor", result


def test_syntax_error_in_package_is_import_error(tmp_path: Path) -> None:
    """A syntax error in tinytorch -> import_error naming SyntaxError and the file."""
    impl = make_impl(tmp_path, "def add(a, b)\n    return a + b\n")
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and result.error_type == "SyntaxError", result
    assert "__init__.py" in result.error_message


def test_exception_at_import_is_import_error_with_location(tmp_path: Path) -> None:
    """Another exception at import -> import_error with type, message and where it happened."""
    impl = make_impl(tmp_path, "def boom():\n    raise ValueError('bad shape (2, 3)')\nboom()\n")
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and result.error_type == "ValueError", result
    assert "bad shape (2, 3)" in result.error_message and "tinytorch/__init__.py:2" in result.error_message
    assert "ValueError" in result.output_tail


def test_exception_in_call_is_raised_with_type_and_message(tmp_path: Path) -> None:
    """Any other exception in the call -> raised, keeping the student's type and message."""
    impl = make_impl(tmp_path, "def add(a, b):\n    raise ValueError('shapes (2,) and (3,) differ')\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert (result.status, result.error_type, result.error_message) == \
        ("raised", "ValueError", "shapes (2,) and (3,) differ (at tinytorch/__init__.py:2 in add)")


def test_an_exception_raised_in_the_probe_itself_names_no_student_line(tmp_path: Path) -> None:
    """The location is the last frame inside the student's package; the probe's own frames are not named."""
    impl = make_impl(tmp_path)
    result = probe(impl, "def probe(tt):\n    raise KeyError('k')\n")
    assert (result.status, result.error_type, result.error_message) == ("raised", "KeyError", "'k'")


def test_sys_exit_at_import_is_import_error(tmp_path: Path) -> None:
    """sys.exit(0) while importing does not pass for success: it is an import_error."""
    impl = make_impl(tmp_path, "import sys\nsys.exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': 1}\n")
    assert result.status == "import_error" and result.error_type == "SystemExit", result


def test_os_exit_at_import_is_crashed(tmp_path: Path) -> None:
    """os._exit(0) while importing leaves no result: crashed, naming the exit code."""
    impl = make_impl(tmp_path, "import os\nos._exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': 1}\n")
    assert result.status == "crashed" and "exited with code 0" in result.error_message, result


def test_sys_exit_in_call_is_raised(tmp_path: Path) -> None:
    """sys.exit(0) inside the call is caught: raised, error_type SystemExit."""
    impl = make_impl(tmp_path, "import sys\ndef add(a, b):\n    sys.exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "raised" and result.error_type == "SystemExit", result


def test_os_exit_in_call_is_crashed(tmp_path: Path) -> None:
    """os._exit(0) inside the call is crashed, not ok."""
    impl = make_impl(tmp_path, "import os\ndef add(a, b):\n    os._exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "crashed" and "code 0" in result.error_message, result


def test_keyboard_interrupt_in_call_is_raised(tmp_path: Path) -> None:
    """KeyboardInterrupt (a BaseException) is reported like any other exception."""
    impl = make_impl(tmp_path, "def add(a, b):\n    raise KeyboardInterrupt\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "raised" and result.error_type == "KeyboardInterrupt", result


def test_a_timeout_names_where_the_students_code_was(tmp_path: Path) -> None:
    """The worker dumps its stack shortly before the deadline; the timeout names the innermost
    frame in the student's package."""
    impl = make_impl(tmp_path, "def add(a, b):\n    while True:\n        a += 1\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "timeout", result
    assert "at tinytorch/__init__.py:3 in add" in result.error_message, result.error_message


def test_a_forged_stack_in_the_output_stays_a_bounded_hint() -> None:
    """The dump comes from the submission's own output: only a well-formed, bounded frame is named."""
    from grader.sandbox.result import stuck_at
    assert stuck_at('Current thread 0x1 (most recent call first):\n  File "/b/tinytorch/x.py", line 7 in f\n') \
        == "tinytorch/x.py:7 in f"
    assert stuck_at('File "/b/tinytorch/' + "x" * 5000 + '.py", line 7 in f') == ""
    assert stuck_at("\x1b[2J no stack at all") == ""
