"""Exec into a container placed on a Ray node: both ends of the byte relay.

`modal container exec` and `modal shell <container>` reach `RuntimeBackend.exec`. With the
Ray backend the container runs on another node, so the process is started there by the
container's actor (`ActorExecs`, which calls the node's `LocalRuntime.exec`: the same
namespace entry and capability drop as on one machine), and the server holds a
`RayExecProcess` with the face `sandbox_exec.py` expects of a local process:

- `stdout`/`stderr`: asyncio stream readers fed by a long poll of the actor (`exec_read`
  returns the chunks produced since the last poll, waiting up to `POLL_SECONDS` for one);
- `stdin`: a writer whose bytes go to the actor in order (one sender per process);
- with a terminal (`pty=True`): `pty_master` is this end of a local socket pair relayed to
  the terminal's master on the node; a resize goes through `resize(rows, cols)`;
- `wait()`, `signal(sig)`, `kill()` and `returncode`.

When the actor (or its node) dies the process counts as killed (exit code 137) and its
streams end.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import signal as signal_mod
import socket
import struct
import termios
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nodal.runtime.backend import ExecProcess

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # an exec_read with nothing to report returns after this long
DRAIN_SECONDS = 1.0  # after the process exits, how long its pipes may stay open (daemons holding them)
MAX_BUFFERED_BYTES = 8 << 20  # output kept on the node between two polls; the reader blocks beyond it
LOST_EXIT_CODE = 137
_EXEC_IDS = itertools.count(1)


# ---------------------------------------------------------------- the node's side (in the actor)
@dataclass
class _NodeExec:
    proc: Any  # exec_server.ForkedProcess
    chunks: deque = field(default_factory=deque)  # (fd, bytes)
    buffered: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    open_streams: int = 0
    exit_code: int | None = None
    tasks: list = field(default_factory=list)


class ActorExecs:
    """The processes exec'd into one container on this node, with their output buffers."""

    def __init__(self, runtime: Any, container_id: str) -> None:
        self.runtime = runtime  # the node's LocalRuntime
        self.container_id = container_id
        self._execs: dict[int, _NodeExec] = {}

    async def start(self, exec_id: int, command: list[str], *, env: dict[str, str] | None, workdir: str | None,
                    pty: bool, stdout: int, stderr: int, pty_size: tuple[int, int] | None = None) -> int:
        if exec_id in self._execs:
            raise ValueError(f"exec id {exec_id} is already in use")
        proc = await self.runtime.exec(self.container_id, command, env=env, workdir=workdir, pty=pty,
                                       pty_size=pty_size, stdout=stdout, stderr=stderr)
        ex = _NodeExec(proc)
        ex.room.set()
        self._execs[exec_id] = ex
        loop = asyncio.get_running_loop()
        if pty:
            os.set_blocking(proc.pty_master, False)
            ex.open_streams = 1
            ex.tasks.append(loop.create_task(self._pump_pty(ex)))
        else:
            for stream, fd in ((proc.stdout, 1), (proc.stderr, 2)):
                if stream is not None:
                    ex.open_streams += 1
                    ex.tasks.append(loop.create_task(self._pump(ex, stream, fd)))
        ex.tasks.append(loop.create_task(self._wait(ex)))
        return proc.pid

    async def _add(self, ex: _NodeExec, fd: int, chunk: bytes) -> None:
        while ex.buffered >= MAX_BUFFERED_BYTES:  # the server fell behind: stop reading (backpressure)
            ex.room.clear()
            await ex.room.wait()
        ex.chunks.append((fd, chunk))
        ex.buffered += len(chunk)
        ex.changed.set()

    def _stream_ended(self, ex: _NodeExec) -> None:
        ex.open_streams -= 1
        ex.changed.set()

    async def _pump(self, ex: _NodeExec, stream: asyncio.StreamReader, fd: int) -> None:
        try:
            while chunk := await stream.read(65536):
                await self._add(ex, fd, chunk)
        finally:
            self._stream_ended(ex)

    async def _pump_pty(self, ex: _NodeExec) -> None:
        loop = asyncio.get_running_loop()
        master = ex.proc.pty_master
        readable = asyncio.Event()
        loop.add_reader(master, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    chunk = os.read(master, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: every slave side closed
                    chunk = b""
                if not chunk:
                    return
                await self._add(ex, 1, chunk)
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(master)
            self._stream_ended(ex)

    async def _wait(self, ex: _NodeExec) -> None:
        code = await ex.proc.wait()
        streams = [t for t in ex.tasks if t is not asyncio.current_task()]
        if streams:
            _done, pending = await asyncio.wait(streams, timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        ex.exit_code = code
        ex.changed.set()

    async def read(self, exec_id: int) -> tuple[list[tuple[int, bytes]], int | None]:
        ex = self._execs.get(exec_id)
        if ex is None:
            return [], LOST_EXIT_CODE
        if not ex.chunks and ex.exit_code is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ex.changed.wait(), POLL_SECONDS)
        ex.changed.clear()
        chunks = list(ex.chunks)
        ex.chunks.clear()
        ex.buffered = 0
        ex.room.set()
        code = ex.exit_code
        if code is not None and not ex.chunks:
            self._forget(exec_id)
        return chunks, code

    def _forget(self, exec_id: int) -> None:
        ex = self._execs.pop(exec_id, None)
        if ex is not None and ex.proc.pty_master is not None:
            with contextlib.suppress(OSError):
                os.close(ex.proc.pty_master)

    async def write(self, exec_id: int, data: bytes) -> None:
        ex = self._execs.get(exec_id)
        if ex is None or ex.exit_code is not None:
            return
        if ex.proc.pty_master is not None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(ex.proc.pty_master, view):]
                except BlockingIOError:
                    await asyncio.sleep(0.005)  # the terminal's input queue is full: poll until it drains
                except OSError:
                    return
            return
        stdin = ex.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    def close_stdin(self, exec_id: int) -> None:
        ex = self._execs.get(exec_id)
        if ex is None:
            return
        if ex.proc.pty_master is not None:
            with contextlib.suppress(OSError):
                os.write(ex.proc.pty_master, b"\x04")  # EOF at the start of a line, as a terminal sends it
        elif ex.proc.stdin is not None and not ex.proc.stdin.is_closing():
            ex.proc.stdin.close()

    def signal(self, exec_id: int, sig: int) -> None:
        ex = self._execs.get(exec_id)
        if ex is not None:
            ex.proc.signal(sig)

    def resize(self, exec_id: int, rows: int, cols: int) -> None:
        ex = self._execs.get(exec_id)
        if ex is not None and ex.proc.pty_master is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(ex.proc.pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


# ---------------------------------------------------------------- the server's side
class _RemoteStdin:
    """The StreamWriter face of a remote process's stdin: bytes go out in order, one call at a time."""

    def __init__(self, send) -> None:
        self._send = send  # async (data: bytes | None) -> None; None closes
        self._queue: asyncio.Queue = asyncio.Queue()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._send(data)
            except Exception:  # noqa: BLE001 - the process or its actor is gone: input has nowhere to go
                self._closing = True
            finally:
                self._queue.task_done()
            if data is None:
                return

    def write(self, data: bytes) -> None:
        if not self._closing:
            self._queue.put_nowait(bytes(data))

    async def drain(self) -> None:
        if self._task.done():
            return
        joined = asyncio.ensure_future(self._queue.join())
        try:
            await asyncio.wait({joined, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._queue.put_nowait(None)

    def is_closing(self) -> bool:
        return self._closing

    def cancel(self) -> None:
        self._closing = True
        self._task.cancel()


class RayExecProcess(ExecProcess):
    """A process exec'd into a container on a Ray node, as `sandbox_exec.py` drives a local one."""

    def __init__(self, actor: Any, exec_id: int, pid: int, *, stdout: bool, stderr: bool, pty: bool) -> None:
        loop = asyncio.get_running_loop()
        self.actor = actor
        self.exec_id = exec_id
        self.pid = pid
        self._exited: asyncio.Future = loop.create_future()
        self.stdout = asyncio.StreamReader(limit=1 << 20) if stdout and not pty else None
        self.stderr = asyncio.StreamReader(limit=1 << 20) if stderr and not pty else None
        self.pty_master: int | None = None
        self._relay: socket.socket | None = None
        self.stdin: _RemoteStdin | None = None
        self._tasks: list[asyncio.Task] = []
        if pty:
            ours, relay = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            relay.setblocking(False)
            self.pty_master = ours.detach()  # sandbox_exec reads, writes and closes it as a plain fd
            self._relay = relay
            self._input = _RemoteStdin(self._send_input)
            self._tasks.append(loop.create_task(self._pump_terminal_input()))
        else:
            self.stdin = self._input = _RemoteStdin(self._send_input)
        self._tasks.append(loop.create_task(self._pump_output()))

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    @property
    def process(self) -> RayExecProcess:
        return self

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def _send_input(self, data: bytes | None) -> None:
        if data is None:
            await self.actor.exec_close_stdin.remote(self.exec_id)
        else:
            await self.actor.exec_write.remote(self.exec_id, data)

    async def _pump_terminal_input(self) -> None:
        """Terminal input written to `pty_master` goes to the node's terminal, in order."""
        loop = asyncio.get_running_loop()
        assert self._relay is not None
        try:
            with contextlib.suppress(OSError):
                while data := await loop.sock_recv(self._relay, 65536):
                    self._input.write(data)
                    await self._input.drain()
        finally:  # the server closed its end (`pty_master`): the relay is done
            self._relay.close()

    async def _pump_output(self) -> None:
        from ray.exceptions import RayError

        loop = asyncio.get_running_loop()
        code = LOST_EXIT_CODE
        try:
            while True:
                chunks, exit_code = await self.actor.exec_read.remote(self.exec_id)
                for fd, data in chunks:
                    if self._relay is not None:
                        with contextlib.suppress(OSError):
                            await loop.sock_sendall(self._relay, data)
                    else:
                        reader = self.stdout if fd == 1 else self.stderr
                        if reader is not None:
                            reader.feed_data(data)
                if exit_code is not None:
                    code = exit_code
                    break
        except RayError as exc:
            log.info("exec %s lost its container's actor: %s", self.exec_id, str(exc).splitlines()[0] if str(exc) else exc)
        except asyncio.CancelledError:
            pass
        finally:
            for reader in (self.stdout, self.stderr):
                if reader is not None:
                    reader.feed_eof()
            if self._relay is not None:
                with contextlib.suppress(OSError):
                    self._relay.shutdown(socket.SHUT_WR)  # the terminal's end reads EOF
            if not self._exited.done():
                self._exited.set_result(code)
            self._input.cancel()

    def resize(self, rows: int, cols: int) -> None:
        """Set the remote terminal's size (rows × cols)."""
        if self.returncode is None:
            self.actor.exec_resize.remote(self.exec_id, rows, cols)

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            self.actor.exec_signal.remote(self.exec_id, sig)

    def kill(self) -> None:
        self.signal(signal_mod.SIGKILL)


def next_exec_id() -> int:
    return next(_EXEC_IDS)
