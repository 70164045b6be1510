"""The server's side of the exec fork server (`enter.py --serve`).

Starting the host's Python for every `exec` costs 15+ ms; a fork server started once
forks a ready interpreter instead (about a millisecond), which then enters the
container exactly as `enter.py` does. Requests go over a SEQPACKET socket pair: a JSON
header plus the process's stdin, stdout and stderr descriptors (SCM_RIGHTS). The fork
server answers with the process's pid, and later with its exit code.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from nodal.runtime.backend import ExecProcess

log = logging.getLogger(__name__)

_ENTER = Path(__file__).with_name("enter.py")
PIPE, DEVNULL, STDOUT = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL, asyncio.subprocess.STDOUT


class ForkedProcess(ExecProcess):
    """A process the fork server started: pid, asyncio pipes, exit code (the ExecProcess face)."""

    def __init__(self, pid: int, stdin, stdout, stderr, exited: asyncio.Future, pty_master: int | None) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.pty_master = pty_master
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    @property
    def process(self) -> ForkedProcess:  # the asyncio.subprocess.Process spelling of the same
        return self

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)  # its process group: the entered command and what it started
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)


class ExecServer:
    """Starts the fork server on first use and restarts it if it dies; one per runtime."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pids: dict[int, asyncio.Future] = {}
        self._exits: dict[int, asyncio.Future] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.returncode is None:
            return self._sock
        async with self._lock:
            if self._sock is not None and self._proc is not None and self._proc.returncode is None:
                return self._sock
            self._close_socket()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", str(_ENTER), "--serve", str(theirs.fileno()),
                    pass_fds=(theirs.fileno(),), stdin=DEVNULL, stdout=DEVNULL,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                )
            finally:
                theirs.close()
            ours.setblocking(False)
            asyncio.get_running_loop().add_reader(ours.fileno(), self._on_readable)
            self._sock = ours
            return ours

    def _close_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        error = ConnectionError("the exec fork server ended")
        for futures in (self._pids, self._exits):
            for fut in futures.values():
                if not fut.done():
                    fut.set_exception(error)
            futures.clear()

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                msg = self._sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if not msg:
                self._close_socket()
                return
            reply = json.loads(msg)
            if "pid" in reply:
                fut = self._pids.pop(reply["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(reply["pid"])
            elif "exit" in reply:
                fut = self._exits.pop(reply["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(reply["exit"])

    async def spawn(
        self,
        *,
        init_pid: int,
        procs: str,
        keep: str,
        workdir: str,
        argv: list[str],
        env: dict[str, str],
        stdout: int = PIPE,
        stderr: int = PIPE,
        pty_slave: int | None = None,
        pty_master: int | None = None,
    ) -> ForkedProcess:
        """Start `argv` in the container whose pid-1 is `init_pid` (see enter.py for the rest)."""
        sock = await self._ensure()
        loop = asyncio.get_running_loop()
        passed: list[int] = []  # descriptors the child gets; closed here after sending
        ours: dict[str, int] = {}
        try:
            if pty_slave is not None:
                child_fds = [pty_slave, pty_slave, pty_slave]
            else:
                in_r, in_w = os.pipe()
                passed.append(in_r)
                ours["stdin"] = in_w
                child_fds = [in_r]
                for name, kind in (("stdout", stdout), ("stderr", stderr)):
                    if kind == PIPE:
                        r, w = os.pipe()
                        passed.append(w)
                        ours[name] = r
                        child_fds.append(w)
                    elif kind == STDOUT and name == "stderr":
                        child_fds.append(child_fds[1])
                    else:
                        null = os.open(os.devnull, os.O_WRONLY)
                        passed.append(null)
                        child_fds.append(null)
            req_id = next(self._ids)
            pid_fut, exit_fut = loop.create_future(), loop.create_future()
            self._pids[req_id], self._exits[req_id] = pid_fut, exit_fut
            header = json.dumps({
                "id": req_id, "pid": init_pid, "procs": procs.split(), "keep": keep, "workdir": workdir,
                "pty": pty_slave is not None, "argv": argv, "env": env,
            }).encode()
            sock.sendmsg([header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", child_fds))])
        except BaseException:
            for fd in (*passed, *ours.values()):
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        finally:
            for fd in passed:
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            pid = await asyncio.wait_for(pid_fut, 10.0)
        except BaseException:
            for fd in ours.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        streams: dict[str, object] = {"stdin": None, "stdout": None, "stderr": None}
        for name in ("stdout", "stderr"):
            if name in ours:
                reader = asyncio.StreamReader(limit=1 << 20)
                await loop.connect_read_pipe(
                    lambda r=reader: asyncio.StreamReaderProtocol(r), os.fdopen(ours[name], "rb", 0)
                )
                streams[name] = reader
        if "stdin" in ours:
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(ours["stdin"], "wb", 0)
            )
            streams["stdin"] = asyncio.StreamWriter(transport, protocol, None, loop)
        return ForkedProcess(pid, streams["stdin"], streams["stdout"], streams["stderr"], exit_fut, pty_master)

    async def close(self) -> None:
        self._close_socket()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
