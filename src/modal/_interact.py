"""`modal.interact()`: this container's terminal, attached to the app's frontend (`modal run -i`).

Inside a container, `interact()` opens a pseudo-terminal, asks the server to pair it with the
frontend of the app (`nodal.server.interact`), and once a frontend is attached puts the PTY on
this process's stdin, stdout and stderr: `input()`, `print()` and pdb then talk to the user's
terminal. The PTY's line discipline echoes and edits lines, as in a local terminal. The session
lasts as long as the container. `breakpoint()` calls `interact()` first (`breakpoint_hook`,
installed by the worker), so pdb works under `modal run -i`; without a frontend it says so
and carries on.

On the frontend's side, `attach_frontend` relays the local terminal (in raw mode when it is
one) while a container's session runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from typing import Any

from modal._terminal import read_ready
from modal.exception import InteractiveTimeoutError
from nodal.proto import api_pb2

ATTACH_TIMEOUT = 30.0  # seconds for the server to answer (a refusal comes at once)
END_TIMEOUT = 2.0  # seconds for the session's last output to go out when the container stops
_session: Any = None  # this process's session (a concurrent.futures.Future), once attached
_finish: Any = None  # ends the session from any thread, its last output sent first (`end_session`)
_lock = threading.Lock()


def interact() -> None:
    """Attach this container's stdin/stdout/stderr to the app's frontend (once per process)."""
    global _session
    from modal._utils.async_utils import background_loop

    with _lock:
        if _session is not None:
            return
        import pty

        master, slave = pty.openpty()
        os.set_blocking(master, False)  # read only what is there (`read_ready`)
        attached = threading.Event()
        failure: list[BaseException] = []
        future = asyncio.run_coroutine_threadsafe(_relay(master, attached, failure), background_loop())
        if not attached.wait(ATTACH_TIMEOUT):
            future.cancel()
            raise InteractiveTimeoutError(f"no interactive frontend answered within {ATTACH_TIMEOUT:g}s")
        if failure:
            os.close(master)
            os.close(slave)
            raise failure[0]
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(slave)
        _session = future


async def _relay(master: int, attached: threading.Event, failure: list[BaseException]) -> None:
    """The session's stream: the PTY's output to the server, the frontend's keystrokes to the PTY."""
    import grpc

    from modal.client import _default_client, translate_rpc_error

    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue = asyncio.Queue()

    async def requests():
        yield api_pb2.InteractMessage(open=api_pb2.InteractOpen())
        while (chunk := await outbox.get()) is not None:
            yield api_pb2.InteractMessage(data=chunk)

    def on_output() -> None:
        data = read_ready(master)
        if data is None:
            return
        if not data:
            loop.remove_reader(master)
        outbox.put_nowait(data or None)

    def finish() -> None:  # on this loop: the rest of the PTY's output, then the end of the stream
        while (data := read_ready(master)):
            outbox.put_nowait(data)
        outbox.put_nowait(None)

    global _finish
    _finish = lambda: loop.call_soon_threadsafe(finish)  # noqa: E731
    reading = False
    try:
        client = await _default_client()
        async for msg in client.stub.InteractStream.stream(requests()):
            which = msg.WhichOneof("msg")
            if which == "attached" and not reading:
                loop.add_reader(master, on_output)
                reading = True
                attached.set()
            elif which == "data":
                _write_all(master, msg.data)
    except grpc.aio.AioRpcError as err:
        failure.append(translate_rpc_error(err))
    except Exception as exc:  # noqa: BLE001 - reported to interact()'s caller
        failure.append(exc)
    finally:
        if reading:
            loop.remove_reader(master)
        attached.set()


def end_session() -> None:
    """Send what the terminal still holds and end the session (the worker calls this as the
    container stops: its process exits without waiting for the SDK's loop)."""
    session, finish = _session, _finish
    if session is None or finish is None:
        return
    finish()
    with contextlib.suppress(Exception):
        session.result(END_TIMEOUT)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def breakpoint_hook(frame: Any = None) -> None:
    """`breakpoint()` in containers: pdb, stopped in `frame` (the caller's by default), on the
    frontend's terminal; or a note that there is none (then the program carries on, as with
    PYTHONBREAKPOINT=0)."""
    try:
        interact()
    except InteractiveTimeoutError as exc:
        print(f"breakpoint() skipped: {exc}", file=sys.stderr, flush=True)
        return
    import pdb

    pdb.Pdb().set_trace(frame or sys._getframe(1))


# ---------- the frontend: `modal run -i` ----------
DRAIN_SECONDS = 5.0  # at the app's end: how long the last session's output may take to arrive


class Frontend:
    """The app's interactive frontend, running (`attach_frontend`) until `close()`."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None
        self.idle = asyncio.Event()  # no container's session is running
        self.idle.set()

    async def close(self) -> None:
        """Show the rest of a running session (the server ends it once its container has
        stopped: call this after stopping the app), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), DRAIN_SECONDS)
        if self.task is not None:
            self.task.cancel()


async def attach_frontend(client: Any, app_id: str, registered: asyncio.Future | None = None,
                          frontend: Frontend | None = None, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
    """Be the app's interactive frontend until cancelled: each container session's output goes
    to `stdout_fd`, and `stdin_fd`'s bytes to the session (the terminal in raw mode meanwhile).
    `registered` resolves once the server knows the frontend (containers may come from then)."""
    loop = asyncio.get_running_loop()
    frontend = frontend or Frontend()
    outbox: asyncio.Queue = asyncio.Queue()

    async def requests():
        yield api_pb2.InteractMessage(open=api_pb2.InteractOpen(app_id=app_id))
        while True:
            yield api_pb2.InteractMessage(data=await outbox.get())

    def on_stdin() -> None:
        data = read_ready(stdin_fd)
        if data:
            outbox.put_nowait(data)
        elif data is not None:  # stdin closed: nothing more to send
            loop.remove_reader(stdin_fd)

    terminal = _Terminal(stdin_fd)
    reading = False
    try:
        async for msg in client.stub.InteractStream.stream(requests()):
            which = msg.WhichOneof("msg")
            if which == "open" and registered is not None and not registered.done():
                registered.set_result(None)
            elif which == "attached" and not reading:  # a session began: keystrokes go to it
                frontend.idle.clear()
                terminal.raw()
                with contextlib.suppress(OSError, ValueError, PermissionError):
                    loop.add_reader(stdin_fd, on_stdin)
                    reading = True
            elif which == "data":
                _write_all(stdout_fd, msg.data)
            elif which == "end":  # after the session's last output
                if reading:
                    loop.remove_reader(stdin_fd)
                    reading = False
                terminal.restore()
                frontend.idle.set()
    except Exception as exc:
        import grpc

        from modal.client import translate_rpc_error

        error = translate_rpc_error(exc) if isinstance(exc, grpc.aio.AioRpcError) else exc
        if registered is not None and not registered.done():
            registered.set_exception(error)
        raise error from None
    finally:
        if reading:
            loop.remove_reader(stdin_fd)
        terminal.restore()
        frontend.idle.set()


class _Terminal:
    """The local terminal's mode: raw while a session runs, restored after (no-op off a tty)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: Any = None

    def raw(self) -> None:
        if self.saved is None and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None
