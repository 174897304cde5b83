"""No network: a worker reaches no listener outside itself, over UDP, TCP or unix sockets.

Each test starts real listeners in this (grader-side) process, lets a probe try to reach
them, and checks both that the probe's attempts failed and that nothing arrived.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import protections
from grader.sandbox.runner import RUNS_AS_ROOT

pytestmark = LINUX_ONLY


@dataclass
class Listeners:
    udp: socket.socket
    tcp: socket.socket
    unix: socket.socket
    unix_path: str
    abstract: socket.socket
    abstract_name: str

    def targets(self) -> dict[str, object]:
        return {
            "udp_port": self.udp.getsockname()[1],
            "tcp_port": self.tcp.getsockname()[1],
            "unix_path": self.unix_path,
            "abstract_name": self.abstract_name,
        }

    def received(self) -> list[str]:
        """Which listeners got a datagram or a connection."""
        got = []
        for name, listener in (("udp", self.udp), ("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            try:
                if name == "udp":
                    listener.recvfrom(100)
                else:
                    listener.accept()[0].close()
                got.append(name)
            except BlockingIOError:
                pass
        return got


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    """UDP and TCP on 127.0.0.1, a pathname unix socket anyone may connect to (in a 0755
    folder, socket mode 0777: only the sandbox can stop it), and an abstract unix socket."""
    folder = tempfile.mkdtemp(prefix="tinytorch-listener-")
    os.chmod(folder, 0o755)
    unix_path = os.path.join(folder, "listener.sock")
    abstract_name = f"\0tinytorch-listener-{os.getpid()}"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    os.chmod(unix_path, 0o777)
    unix.listen(8)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen(8)
    for listener in (udp, tcp, unix, abstract):
        listener.setblocking(False)
    try:
        yield Listeners(udp, tcp, unix, unix_path, abstract, abstract_name)
    finally:
        for listener in (udp, tcp, unix, abstract):
            listener.close()
        os.unlink(unix_path)
        os.rmdir(folder)


REACH_OUT = """
import socket

def probe(tt, udp_port, tcp_port, unix_path, abstract_name):
    attempts = {
        "udp": (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", udp_port)),
        "tcp": (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", tcp_port)),
        "unix": (socket.AF_UNIX, socket.SOCK_STREAM, unix_path),
        "abstract": (socket.AF_UNIX, socket.SOCK_STREAM, abstract_name),
        "unix_dgram_pair": None,
    }
    out = {}
    for name, attempt in attempts.items():
        try:
            if attempt is None:  # a datagram socketpair could be pointed at another address
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                a.sendto(b"leak", unix_path)
            else:
                family, kind, address = attempt
                s = socket.socket(family, kind)
                s.settimeout(1.0)
                if kind == socket.SOCK_DGRAM:
                    s.sendto(b"leak", address)
                else:
                    s.connect(address)
                    s.sendall(b"leak")
            out[name] = "reached"
        except OSError as exc:
            out[name] = type(exc).__name__
    return out
"""


@pytest.mark.timeout(60)
def test_udp_tcp_and_unix_sockets_reach_nothing_outside(tmp_path: Path, listeners: Listeners) -> None:
    """UDP and TCP to 127.0.0.1, a world-writable pathname unix socket and an abstract one,
    all listening in the grader's process: every attempt fails and nothing arrives."""
    active = protections()
    if active["network namespace"].startswith("unavailable") and active["seccomp"].startswith("unavailable"):
        pytest.skip(f"no network namespace ({active['network namespace']}) and no seccomp ({active['seccomp']})")
    result = probe(make_impl(tmp_path), REACH_OUT, listeners.targets())
    assert result.status == "ok", result
    assert "reached" not in result.values.values(), result.values
    assert listeners.received() == [], "a listener outside the sandbox was reached"


def test_worker_network_namespace_has_only_a_loopback_that_is_down(tmp_path: Path, listeners: Listeners) -> None:
    """Independently of the socket filter: the worker's network namespace has no interface
    but `lo`, down, and none of the host's sockets (the grader's TCP listener) is in it."""
    if protections()["network namespace"].startswith("unavailable"):
        assert not RUNS_AS_ROOT, f"as root the worker must get a network namespace: {protections()['network namespace']}"
        pytest.skip(protections()["network namespace"])
    result = probe(
        make_impl(tmp_path),
        """
        def probe(tt, tcp_port):
            with open("/proc/net/dev") as handle:
                names = [line.split(":")[0].strip() for line in handle.read().splitlines()[2:]]
            with open("/proc/net/if_inet6") as handle:
                inet6 = handle.read()
            with open("/proc/net/tcp") as handle:
                listening = [line.split()[1] for line in handle.read().splitlines()[1:]]
            return {"interfaces": names, "inet6": inet6, "tcp": listening, "port": "%04X" % tcp_port}
        """,
        {"tcp_port": listeners.tcp.getsockname()[1]},
    )
    assert result.status == "ok", result
    assert result.values["interfaces"] == ["lo"], result.values
    assert result.values["inet6"] == "", "loopback is up (it has an address) in the worker's namespace"
    assert not any(entry.endswith(":" + result.values["port"]) for entry in result.values["tcp"]), result.values
