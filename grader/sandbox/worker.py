"""The sandbox worker: runs one probe against student code in a process of its own.

Started only by `runner.py`, as `python -s -P -B -u worker.py CONFIG_JSON`, with the
sandbox temp dir as its working directory. It runs in three phases:

1. Trusted (possibly still root): read the grader's config and inputs, import NumPy, and load
   this package's helper modules by file path, so nothing from the project checkout needs to
   be importable later.
2. Lock-down (`_lock_down`): wait until the grader has moved it into its cgroup; as root, new mount, network and
   pid namespaces (namespaces.py: the Python installation made reachable and the project
   checkout hidden, a sized tmpfs scratch over the box, a fresh /proc; the worker forks
   the namespace's init, which forks the probe process); resource limits; the drop to the
   sandbox uid (root only); no_new_privs; Landlock (read-only Python and system dirs,
   read-write box); the seccomp socket filter; seeded random generators. What each
   protection got goes to the grader's setup fd, which is then closed.
3. Untrusted: import `tinytorch` from the temp dir, exec the probe source, call the probe,
   encode what it returned.

The outcome goes to two file descriptors the grader opened (a JSON envelope and an .npz with
the arrays); then the process ends with os._exit, so no student atexit hook, thread or
finalizer runs afterwards. Nothing the worker reports is trusted by the grader beyond being
plain data: the grader decides timeouts and crashes itself.

Config keys: box, func_name, source, inputs_json, inputs_npz, result_json_fd, result_npz_fd,
setup_fd, rlimits {cpu, memory, file, processes}, uid, gid (null when not root), landlock_abi,
forbidden_roots, max_input_bytes, max_array_bytes (the cap on returned arrays),
cgroup_ready_fd (a pipe: b"1" once the grader has moved the worker into its cgroup, -1
without one), scratch_bytes (the tmpfs size).
"""

from __future__ import annotations

import builtins
import faulthandler
import importlib
import importlib.util
import json
import os
import random
import resource
import signal
import sys
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import numpy.random  # noqa: F401  (NumPy loads it lazily; seeded in _lock_down, already loaded in a zygote)

_HERE = os.path.dirname(os.path.abspath(__file__))
_exit = os._exit  # bound before student code could replace os._exit
SYSTEM_READ_ONLY = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev")


def _load_helper(name: str) -> ModuleType:
    """Load grader/sandbox/<name>.py as a standalone module (it imports only stdlib/NumPy)."""
    spec = importlib.util.spec_from_file_location(f"_sandbox_{name}", os.path.join(_HERE, f"{name}.py"))
    assert spec is not None and spec.loader is not None, f"cannot load sandbox helper {name!r} from {_HERE}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


protocol = _load_helper("protocol")
landlock = _load_helper("landlock")
privileges = _load_helper("privileges")
namespaces = _load_helper("namespaces")
seccomp = _load_helper("seccomp")
failures = _load_helper("failures")


class Reporter:
    """Writes the single outcome of this worker to the grader's descriptors, then exits."""

    def __init__(self, json_fd: int, npz_fd: int) -> None:
        self.json_fd = json_fd
        self.npz_fd = npz_fd

    def send(self, status: str, error_type: str | None = None, message: str = "", tree: Any = None, npz: bytes = b"") -> NoReturn:
        # A write past RLIMIT_FSIZE must fail with EFBIG rather than kill us silently.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        envelope = {
            "status": status,
            "error_type": error_type,
            "error_message": protocol.truncate(message),
            "values": tree if tree is not None else {},
        }
        try:
            _overwrite(self.npz_fd, npz)
            _overwrite(self.json_fd, protocol.dumps_json(envelope))
        except OSError as exc:
            fallback = {"status": "bad_output", "error_type": "OSError", "error_message": f"result too large to write: {exc}", "values": {}}
            _overwrite(self.npz_fd, b"")
            _overwrite(self.json_fd, protocol.dumps_json(fallback))
        _exit(0)


def main(argv: list[str]) -> int:
    """Run the probe described by the config file argv[1]; the outcome goes to the grader's fds."""
    if len(argv) != 2:
        print(f"usage: {argv[0] if argv else 'worker.py'} CONFIG_JSON (started by grader.sandbox.runner)", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as handle:
        config = json.loads(handle.read())
    reporter = Reporter(config["result_json_fd"], config["result_npz_fd"])
    try:
        inputs = _read_inputs(config)
        record = _lock_down(config)
        _send_setup_record(config["setup_fd"], record)
    except BaseException as exc:  # an infrastructure problem, reported as such
        reporter.send("setup_failed", type(exc).__name__, f"sandbox setup failed: {exc}")
    sys.argv = ["probe"]
    _run_untrusted(config, reporter, inputs)


def _run_untrusted(config: dict[str, Any], reporter: Reporter, inputs: dict[str, Any]) -> NoReturn:
    """Phase 3: everything below may run student code."""
    source, func_name = config["source"], config["func_name"]
    dump_after = float(config.get("stack_dump_after") or 0.0)
    if dump_after > 0:  # just before the grader's deadline: where the code was, into the log
        faulthandler.dump_traceback_later(dump_after, exit=False, file=2)
    sys.path.insert(0, config["box"])
    import_failure: tuple[str, str] | None = None
    try:
        tt = importlib.import_module("tinytorch")
    except NotImplementedError as exc:
        reporter.send("not_implemented", "NotImplementedError", failures.safe_str(exc))
    except BaseException as exc:
        failures.log_traceback(exc)
        import_failure = (failures.error_type(exc), failures.with_location(exc, config["box"]))
        if _failed_in_package_init(exc, config["box"]):
            reporter.send("import_error", *import_failure)
        tt = _import_partially(config["box"])
    try:
        namespace: dict[str, Any] = {"__name__": "__probe__", "__builtins__": builtins}
        exec(compile(source, "<probe>", "exec"), namespace)
        returned = namespace[func_name](tt, **inputs)
    except NotImplementedError as exc:
        reporter.send("not_implemented", "NotImplementedError", failures.safe_str(exc))
    except BaseException as exc:
        failures.log_traceback(exc)
        if import_failure is not None:  # the probe needed a part of tinytorch that failed to import
            reporter.send("import_error", *import_failure)
        reporter.send("raised", failures.error_type(exc), failures.at_last_frame(exc, config["box"]))
    try:
        tree, npz = protocol.encode(returned, config["max_array_bytes"])
    except BaseException as exc:
        reporter.send("bad_output", failures.error_type(exc), failures.safe_str(exc))
    reporter.send("ok", tree=tree, npz=npz)


def _failed_in_package_init(exc: BaseException, box: str) -> bool:
    """True when `tinytorch/__init__.py` itself failed, not a submodule it imports: then the
    whole package is broken (an exception at the end of __init__ must not earn credit)."""
    init = os.path.join(box, "tinytorch", "__init__.py")
    if isinstance(exc, SyntaxError) and getattr(exc, "filename", None):
        return os.path.abspath(exc.filename) == init
    try:
        frames = [f.filename for f in failures.frames_in(exc, box)]
    except BaseException:
        return True
    return not frames or frames[-1] == init


def _import_partially(box: str) -> ModuleType:
    """The package assembled from the submodules that do import, when one of them does not.

    Every `tinytorch/*.py` except `__init__.py` is imported on its own; the classes and
    functions each defines become attributes of the package. Probes that need a broken part
    then fail, and are reported with the original import error; the others run.
    """
    for name in [n for n in sys.modules if n == "tinytorch" or n.startswith("tinytorch.")]:
        del sys.modules[name]
    folder = os.path.join(box, "tinytorch")
    package = ModuleType("tinytorch")
    package.__path__ = [folder]  # type: ignore[attr-defined]
    package.__package__ = "tinytorch"
    sys.modules["tinytorch"] = package
    for filename in sorted(os.listdir(folder)):
        if not filename.endswith(".py") or filename == "__init__.py":
            continue
        try:
            module = importlib.import_module(f"tinytorch.{filename[:-3]}")
        except BaseException:
            continue
        for attr, value in list(vars(module).items()):
            if not attr.startswith("_") and getattr(value, "__module__", None) == module.__name__:
                setattr(package, attr, value)
    return package


def _read_inputs(config: dict[str, Any]) -> dict[str, Any]:
    with open(config["inputs_json"], "rb") as handle:
        tree = protocol.loads_json(handle.read())
    npz = b""
    if config["inputs_npz"]:
        with open(config["inputs_npz"], "rb") as handle:
            npz = handle.read()
    return protocol.decode(tree, npz, config["max_input_bytes"])


def _lock_down(config: dict[str, Any]) -> dict[str, str]:
    """Phase 2: cgroup, namespaces, scratch, limits, identity, Landlock, seccomp. Raises on a
    failure that must stop the probe (uid drop, Landlock, an unreachable Python); the other
    protections are best effort and the returned setup record says what each one got.

    With a pid namespace this forks (see namespaces.py): it returns only in the probe process.
    """
    box = config["box"]
    forbidden = [os.path.realpath(p) for p in config["forbidden_roots"]]
    read_only = [*SYSTEM_READ_ONLY, *_python_roots(forbidden)]
    uid, gid = config["uid"], config["gid"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    record = {"cgroup": _wait_for_cgroup(config["cgroup_ready_fd"])}
    if uid is not None:
        privileges.forbid_new_privileges()  # before forking: marks the init as a sandbox process too
        entered = namespaces.unshare(namespaces.CLONE_NEWNS | namespaces.CLONE_NEWNET | namespaces.CLONE_NEWPID)
        private = _private_mounts(entered[namespaces.CLONE_NEWNS])
        record["mount namespace"] = privileges.prepare_mounts([*read_only, box], forbidden, uid, gid, private=private)
        record["network namespace"] = _entered(entered[namespaces.CLONE_NEWNET], "private, no interface up")
        record["scratch"] = _scratch(config, uid, gid, private)
        reason = entered[namespaces.CLONE_NEWPID]
        record["pid namespace"] = f"unavailable: {reason}" if reason else namespaces.fork_into_pid_namespace(private)
    else:
        record["network namespace"] = _entered(namespaces.user_network_namespace(), "private, in a user namespace")
        for name in ("mount namespace", "pid namespace", "scratch"):
            record[name] = "unavailable: the grader is not root"
    _set_rlimits(config["rlimits"])
    if uid is not None:
        privileges.drop_to(uid, gid)
        record["uid drop"] = f"uid {uid}"
    else:
        record["uid drop"] = "unavailable: the grader is not root"
    privileges.forbid_new_privileges()
    abi = config["landlock_abi"]
    record["Landlock"] = f"ABI {abi}" if abi > 0 else "unavailable"
    if abi > 0:
        landlock.restrict(read_only, [box, os.devnull], abi)
        _verify_unreadable(forbidden)
    record["seccomp"] = _deny_sockets()
    os.chdir(box)  # by path: the scratch tmpfs, not the on-disk box the worker started in
    np.random.seed(0)
    random.seed(0)
    return record


def _wait_for_cgroup(ready_fd: int) -> str:
    """Wait until the grader has moved this process into its cgroup (before any fork)."""
    if ready_fd < 0:
        return "unavailable"
    try:
        answer = os.read(ready_fd, 1)
    finally:
        os.close(ready_fd)
    return "joined" if answer == b"1" else "unavailable: the grader could not move the worker into its cgroup"


def _private_mounts(unshare_failure: str) -> bool:
    """Whether this process now has its own mount namespace whose mounts stay inside it."""
    if unshare_failure:
        return False
    try:
        namespaces.make_mounts_private()
    except OSError:
        return False  # never mount anything that could propagate to the host
    return True


def _entered(failure: str, success: str) -> str:
    return f"unavailable: {failure}" if failure else success


def _scratch(config: dict[str, Any], uid: int, gid: int, private: bool) -> str:
    if not private:
        return "unavailable: no private mount namespace; the box is in the shared temp dir"
    try:
        return namespaces.mount_scratch(config["box"], config["scratch_bytes"], uid, gid)
    except OSError as exc:
        return f"unavailable: {exc}; the box is in the shared temp dir"


def _deny_sockets() -> str:
    if not seccomp.supported():
        return "unavailable: no filter for this architecture"
    try:
        seccomp.deny_sockets()
    except OSError as exc:
        return f"unavailable: {exc}"
    return seccomp.DESCRIPTION


def _send_setup_record(fd: int, record: dict[str, str]) -> None:
    """Hand the grader what this worker's setup got, then close the channel for good."""
    try:
        _overwrite(fd, protocol.dumps_json(record))
    finally:
        os.close(fd)


def _python_roots(forbidden: list[str]) -> list[str]:
    """The interpreter's own directories, minus any that is, holds or lies in a forbidden root.

    Exception: directories inside the interpreter's own environment (sys.prefix, e.g. a
    virtualenv created inside the project checkout) stay readable.
    """
    environments = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix)}
    candidates = [sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, os.path.dirname(sys.executable), *sys.path]
    roots: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate or not os.path.isdir(candidate):
            continue
        real = os.path.realpath(candidate)
        if real == "/" or real in roots or any(real == f or _inside(f, real) for f in forbidden):
            continue
        in_environment = any(real == e or _inside(real, e) for e in environments)
        if in_environment or not any(_inside(real, f) for f in forbidden):
            roots.append(real)
    return roots


def _inside(path: str, parent: str) -> bool:
    """Whether `path` is strictly inside directory `parent`."""
    return path != parent and path.startswith(parent.rstrip("/") + "/")


def _set_rlimits(rlimits: dict[str, int]) -> None:
    """Set soft and hard limits (never above an existing hard limit) before student code runs."""
    cpu = rlimits["cpu"]
    wanted = {
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (rlimits["memory"], rlimits["memory"]),
        resource.RLIMIT_FSIZE: (rlimits["file"], rlimits["file"]),
        resource.RLIMIT_NPROC: (rlimits["processes"], rlimits["processes"]),
    }
    for limit, (soft, hard) in wanted.items():
        _, current_hard = resource.getrlimit(limit)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(limit, (soft, hard))


def _verify_unreadable(forbidden: list[str]) -> None:
    """Fail closed if Landlock left a forbidden directory readable."""
    for path in forbidden:
        try:
            os.listdir(path)
        except OSError:
            continue
        raise OSError(f"forbidden directory {path!r} is still readable after Landlock")


def _overwrite(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
