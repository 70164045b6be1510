"""Process streams: `Sandbox.exec`, a sandbox's own stdio, and `modal container exec`/`modal shell`.

One bidirectional gRPC stream per process. The client's first message says what
to do (exec a command in a sandbox or container, or attach to a sandbox's own
stdio); later messages carry stdin bytes, EOF, terminal resizes and signals.
The server answers with the process id, then output chunks as they come, then
one `exited` message after all output was sent. A client that goes away takes
its exec'd process with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import termios
from collections.abc import AsyncIterator

from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid
from nodal.server.sandboxes import SandboxService, check_sandbox_id

log = logging.getLogger("nodal.sandbox_exec")

_DRAIN_SECONDS = 1.0  # after the process exits, how long its pipes may stay open (daemons holding them)
_MAX_TIMEOUT = 24 * 3600.0
_STREAM_TYPES = {
    api_pb2.PROCESS_STREAM_PIPE: asyncio.subprocess.PIPE,
    api_pb2.PROCESS_STREAM_DEVNULL: asyncio.subprocess.DEVNULL,
}
_PROCESS_COUNTER = iter(range(1, 1 << 62))


def _resp(**kw) -> api_pb2.ProcessStreamResponse:
    return api_pb2.ProcessStreamResponse(**kw)


async def process_stream(
    service: SandboxService, requests: AsyncIterator[api_pb2.ProcessStreamRequest]
) -> AsyncIterator[api_pb2.ProcessStreamResponse]:
    """Serve one ProcessStream call (see the module docstring)."""
    try:
        first = await anext(requests)
    except StopAsyncIteration:
        return
    kind = first.WhichOneof("kind")
    if kind == "attach":
        async for resp in _attach(service, first.attach, requests):
            yield resp
    elif kind == "exec":
        async for resp in _exec(service, first.exec, requests):
            yield resp
    else:
        raise invalid("a ProcessStream must start with an exec or attach message")


async def _feed_stdin(requests, write, close, resize=None, send_signal=None) -> None:
    """Apply the client's input messages until its side of the stream ends."""
    async for req in requests:
        if req.WhichOneof("kind") != "input":
            continue
        msg = req.input
        if msg.data:
            await write(msg.data)
        if msg.rows > 0 and msg.cols > 0 and resize is not None:
            resize(msg.rows, msg.cols)
        if msg.signal > 0 and send_signal is not None:
            send_signal(msg.signal)
        if msg.eof:
            close()


async def _attach(service: SandboxService, req: api_pb2.ProcessAttach, requests) -> AsyncIterator:
    sandbox_id = check_sandbox_id(req.sandbox_id)
    info = service.get_info(sandbox_id)
    live = service.live.get(sandbox_id)
    output = live.output if live is not None else service.finished_output(sandbox_id)
    yield _resp(process_id=sandbox_id)

    async def write(data: bytes) -> None:
        stdin = service.runtime.stdin_of(sandbox_id)
        if stdin is None or stdin.is_closing():
            return  # the sandbox ended or closed its stdin: input has nowhere to go
        stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    def close() -> None:
        stdin = service.runtime.stdin_of(sandbox_id)
        if stdin is not None and not stdin.is_closing():
            stdin.close()

    feeder = asyncio.get_running_loop().create_task(_feed_stdin(requests, write, close))
    try:
        if output is not None:
            async for batch in output.follow():
                for fd, data in batch:
                    yield _resp(fd=fd, data=data)
        if live is not None:
            await live.done.wait()
        info = service.get_info(sandbox_id)
        yield _resp(exited=True, exit_code=info.exit_code)
    finally:
        feeder.cancel()


def _target(service: SandboxService, req: api_pb2.ProcessExec) -> str:
    """The container to exec in: a running sandbox, or (modal container exec) any running container."""
    if req.sandbox_id:
        service.require_live(check_sandbox_id(req.sandbox_id))
        return req.sandbox_id
    if req.container_id:
        status = service.runtime.status(req.container_id)
        if status is None or status.exit_code is not None:
            raise ApiError("NotFoundError", f"container {req.container_id} is not running")
        return req.container_id
    raise invalid("exec needs a sandbox_id or a container_id")


async def _exec(service: SandboxService, req: api_pb2.ProcessExec, requests) -> AsyncIterator:
    if not req.command:
        raise invalid("exec needs a command")
    if any("\0" in c for c in req.command):
        raise invalid("exec arguments may not contain NUL bytes")
    if req.workdir and not req.workdir.startswith("/"):
        raise invalid(f"exec workdir must be an absolute path, not {req.workdir!r}")
    if req.timeout_secs < 0 or req.timeout_secs > _MAX_TIMEOUT:
        raise invalid(f"exec timeout must be between 0 and {int(_MAX_TIMEOUT)} seconds")
    if req.stdout not in _STREAM_TYPES:
        raise invalid("exec stdout may be PIPE or DEVNULL")
    container_id = _target(service, req)
    env = service.secrets.env_for(list(req.secret_ids)) if req.secret_ids else {}
    stderr = (
        asyncio.subprocess.STDOUT if req.stderr == api_pb2.PROCESS_STREAM_STDOUT else _STREAM_TYPES.get(req.stderr)
    )
    if stderr is None:
        raise invalid("exec stderr may be PIPE, DEVNULL or STDOUT")
    try:
        proc = await service.runtime.exec(
            container_id,
            list(req.command),
            env=env,
            workdir=req.workdir or None,
            pty=req.pty,
            pty_size=(req.rows, req.cols) if req.rows > 0 and req.cols > 0 else None,  # sized before it starts
            stdout=_STREAM_TYPES[req.stdout],
            stderr=stderr,
        )
    except ValueError as exc:
        raise ApiError("InvalidError", f"cannot exec in {container_id}: {exc}") from None
    except (RuntimeError, OSError) as exc:
        raise ApiError("ExecutionError", f"cannot exec in {container_id}: {exc}") from None
    loop = asyncio.get_running_loop()
    out: asyncio.Queue = asyncio.Queue()
    process_id = f"{container_id}-p{next(_PROCESS_COUNTER)}"
    pumps: list[asyncio.Task] = []

    async def pump(stream: asyncio.StreamReader, fd: int) -> None:
        while chunk := await stream.read(65536):
            out.put_nowait(_resp(fd=fd, data=chunk))

    if req.pty:
        master = proc.pty_master
        os.set_blocking(master, False)
        pty_done = asyncio.Event()

        def on_readable() -> None:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return
            except OSError:  # EIO: every slave side closed
                chunk = b""
            if chunk:
                out.put_nowait(_resp(fd=1, data=chunk))
            else:
                loop.remove_reader(master)
                pty_done.set()

        loop.add_reader(master, on_readable)

        async def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(master, view)
                    view = view[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.005)  # the terminal's input queue is full: poll until it drains
                except OSError:
                    return

        def close() -> None:
            with contextlib.suppress(OSError):
                os.write(master, b"\x04")  # EOF at the start of a line, as a terminal sends it

        pumps.append(loop.create_task(pty_done.wait()))
        feeder = loop.create_task(
            _feed_stdin(requests, write, close, lambda r, c: _resize(master, r, c, proc), proc.signal)
        )
    else:
        for stream, fd in ((proc.stdout, 1), (proc.stderr, 2)):
            if stream is not None:
                pumps.append(loop.create_task(pump(stream, fd)))

        async def write(data: bytes) -> None:
            if proc.stdin is None or proc.stdin.is_closing():
                return
            proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()

        def close() -> None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()

        feeder = loop.create_task(_feed_stdin(requests, write, close, None, proc.signal))

    async def finish() -> None:
        try:
            if req.timeout_secs > 0:
                try:
                    code = await asyncio.wait_for(proc.wait(), req.timeout_secs)
                except TimeoutError:
                    proc.kill()
                    code = await proc.wait()
            else:
                code = await proc.wait()
            if pumps:
                _done, pending = await asyncio.wait(pumps, timeout=_DRAIN_SECONDS)
                for task in pending:
                    task.cancel()
            out.put_nowait(_resp(exited=True, exit_code=code))
        except BaseException as exc:  # noqa: BLE001 - reported on the stream
            out.put_nowait(exc)

    finisher = loop.create_task(finish())
    try:
        yield _resp(process_id=process_id)
        while True:
            item = await out.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.exited:
                return
    finally:
        for task in (finisher, feeder, *pumps):
            task.cancel()
        proc.kill()
        if req.pty:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(proc.pty_master)
            with contextlib.suppress(OSError):
                os.close(proc.pty_master)
        if proc.process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 2.0)


def _resize(master: int, rows: int, cols: int, proc=None) -> None:
    remote_resize = getattr(proc, "resize", None)  # a process on another node (ray_exec.RayExecProcess)
    if remote_resize is not None:
        remote_resize(rows, cols)
        return
    with contextlib.suppress(OSError):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
