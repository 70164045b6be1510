"""Sandbox isolation, as docs/threat-model.md states it: each point tested with real sandboxes.

Network checks talk only to listeners this test opens on the host (its loopback, and its
own interface address, which a sandbox reaches through its NAT like any outside host).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import modal
from modal.exception import SandboxTimeoutError

CONNECT = (
    "import socket,sys\n"
    "s=socket.socket(); s.settimeout(3)\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2]))); print('connected', s.recv(100).decode())\n"
    "except OSError as e:\n"
    "    print('failed', type(e).__name__, e.errno)\n"
)


@pytest.fixture(scope="module")
def app(nodal_server, require_containers):
    return modal.App.lookup("isolation-tests", create_if_missing=True)


class Listener:
    """A TCP server on the host that greets every connection (stopped by the fixture)."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.sendall(b"hi-from-host")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def _host_address() -> str | None:
    """This host's own non-loopback IPv4 address (learned from the routing table; nothing is sent)."""
    out = subprocess.run(["ip", "-4", "route", "get", "192.0.2.123"], capture_output=True, text=True).stdout
    parts = out.split()
    if "src" in parts:
        addr = parts[parts.index("src") + 1]
        return None if addr.startswith("127.") else addr
    return None


@pytest.fixture()
def loopback_listener():
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture()
def host_listener():
    addr = _host_address()
    if addr is None:
        pytest.skip("the host has no non-loopback IPv4 address to stand in for an outside server")
    listener = Listener(addr)
    listener.addr = addr  # type: ignore[attr-defined]
    yield listener
    listener.close()


def nodal_server_pid() -> int:
    from nodal.server import daemon

    pid = daemon.server_pid()
    assert pid is not None
    return pid


def _connect(sb: modal.Sandbox, host: str, port: int) -> str:
    return sb.exec("python3", "-c", CONNECT, host, str(port)).stdout.read().strip()


def test_rm_rf_root_leaves_host_and_other_sandboxes_intact(app, tmp_path: Path):
    marker = tmp_path / "host-marker.txt"
    marker.write_text("still here")
    victim = modal.Sandbox.create(
        "sh", "-c", "rm -rf --no-preserve-root / 2>/dev/null; test -e /usr/bin/python3 || echo wiped", app=app
    )
    victim.wait(raise_on_termination=False)
    assert victim.stdout.read().strip() == "wiped"  # it did wipe its own view (test and echo are builtins)
    assert marker.read_text() == "still here"
    assert Path("/usr/bin/env").exists()
    survivor = modal.Sandbox.create("sh", "-c", "test -x /usr/bin/python3 && echo intact", app=app)
    survivor.wait()
    assert survivor.stdout.read() == "intact\n"


def test_processes_of_other_sandboxes_and_the_host_are_invisible(app):
    a = modal.Sandbox.create("sleep", "4242", app=app)
    b = modal.Sandbox.create(app=app)
    try:
        a.exec("true").wait()
        cmdlines = b.exec(
            "sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"
        ).stdout.read()
        assert "4242" not in cmdlines
        assert "nodal" not in cmdlines and "pytest" not in cmdlines
        pids = b.exec("sh", "-c", "ls -d /proc/[0-9]* | wc -l").stdout.read().strip()
        assert int(pids) < 10
        # ptrace/kill of a host process is impossible: it does not exist in the sandbox's pid namespace
        out = b.exec("sh", "-c", f"kill -0 {os.getpid()} 2>&1 || echo no-such-process").stdout.read()
        assert "no-such-process" in out
    finally:
        a.terminate()
        b.terminate()


def test_host_loopback_and_the_nodal_server_are_unreachable(app, loopback_listener):
    sb = modal.Sandbox.create(app=app)
    try:
        assert _connect(sb, "127.0.0.1", loopback_listener.port).startswith("failed")
        assert _connect(sb, "10.0.2.2", loopback_listener.port).startswith("failed")  # the NAT's host alias
        assert loopback_listener.accepted == 0
        found = sb.exec("sh", "-c", "ls /run/nodal 2>&1; env | grep -c NODAL_SERVER || true").stdout.read()
        assert "server.sock" not in found
    finally:
        sb.terminate()


def test_outbound_access_works_by_default(app, host_listener):
    sb = modal.Sandbox.create(app=app)
    try:
        assert _connect(sb, host_listener.addr, host_listener.port) == "connected hi-from-host"
    finally:
        sb.terminate()


def test_block_network_leaves_no_route(app, host_listener):
    sb = modal.Sandbox.create(app=app, block_network=True)
    try:
        assert _connect(sb, host_listener.addr, host_listener.port).startswith("failed")
        devices = sb.exec("sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1").stdout.read().split()
        assert devices == ["lo"]
        assert sb.exec("sh", "-c", "cat /proc/net/route | wc -l").stdout.read().strip() == "1"  # header only
        assert host_listener.accepted == 0
    finally:
        sb.terminate()


def test_cidr_allowlist_allows_only_what_it_lists(app, host_listener):
    sb = modal.Sandbox.create(app=app, cidr_allowlist=[f"{host_listener.addr}/32"])
    try:
        assert _connect(sb, host_listener.addr, host_listener.port) == "connected hi-from-host"
        # Anywhere else: no route at all (nothing leaves the machine).
        assert _connect(sb, "198.51.100.7", 80).startswith("failed")
        # The sandbox cannot put its default route back: it holds no CAP_NET_ADMIN.
        out = sb.exec("sh", "-c", "ip route add default via 10.0.2.2 2>&1 || echo denied").stdout.read()
        assert "denied" in out or "not found" in out
    finally:
        sb.terminate()
    blocked = modal.Sandbox.create(app=app, cidr_allowlist=["203.0.113.0/24"])
    try:
        assert _connect(blocked, host_listener.addr, host_listener.port).startswith("failed")
    finally:
        blocked.terminate()


def test_memory_hog_kills_only_its_sandbox(app):
    bystander = modal.Sandbox.create(app=app)
    hog = modal.Sandbox.create(
        "python3", "-c", "x = bytearray(1024 * 1024 * 1024); print('survived')", app=app, memory=(64, 128)
    )
    try:
        hog.wait(raise_on_termination=False)
        assert hog.returncode not in (0, None)
        assert "survived" not in hog.stdout.read()
        assert bystander.exec("echo", "fine").stdout.read() == "fine\n"
    finally:
        bystander.terminate()


def test_fork_bomb_stays_inside_its_sandbox(app):
    bystander = modal.Sandbox.create(app=app)
    bomb = modal.Sandbox.create(
        "sh", "-c", "b() { b | b & }; b; sleep 30", app=app, timeout=6, cpu=(0.25, 0.5)
    )
    try:
        started = time.monotonic()
        p = bystander.exec("echo", "responsive")
        assert p.stdout.read() == "responsive\n"
        assert time.monotonic() - started < 15
        with pytest.raises(SandboxTimeoutError):
            bomb.wait()
        assert bystander.exec("echo", "still").stdout.read() == "still\n"
    finally:
        bomb.terminate()
        bystander.terminate()


def test_no_mount_and_no_extra_capabilities(app):
    sb = modal.Sandbox.create("sh", "-c", "cat /proc/self/status > /tmp/entrypoint-status; exec sleep 60", app=app)
    try:
        for proc in (sb.exec("sh", "-c", "mount -t tmpfs none /mnt 2>&1 || echo refused"),):
            assert "refused" in proc.stdout.read()
        caps = sb.exec("sh", "-c", "grep CapBnd /proc/self/status").stdout.read().split()[1]
        bounding = int(caps, 16)
        for cap in (21, 19, 16, 12):  # SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN
            assert not bounding & (1 << cap), f"capability {cap} is in the bounding set"
        # Neither the entrypoint nor exec'd processes can gain capabilities through setuid or
        # file-capability binaries: both run with no_new_privs.
        # (the entrypoint writes its file as it starts: wait for it, bounded by the exec timeout)
        entry_wait = "until [ -s /tmp/entrypoint-status ]; do sleep 0.05; done; cat /tmp/entrypoint-status"
        for who, command in (("exec", "cat /proc/self/status"), ("entrypoint", entry_wait)):
            status = dict(
                line.split(":\t", 1)
                for line in sb.exec("sh", "-c", command, timeout=20).stdout.read().splitlines()
                if ":\t" in line
            )
            assert status["NoNewPrivs"].strip() == "1", who
            assert int(status["CapEff"], 16) & (1 << 21) == 0, who
        # ptrace reaches only the sandbox's own (equally unprivileged) processes: the server's pid
        # does not exist in the sandbox's pid namespace.
        server_pid = nodal_server_pid()
        out = sb.exec("python3", "-c", (
            "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.ptrace(16, int(sys.argv[1]), 0, 0), ctypes.get_errno())"  # PTRACE_ATTACH
        ), str(server_pid)).stdout.read().split()
        assert out == ["-1", "3"]  # ESRCH
    finally:
        sb.terminate()
