"""Attach this terminal to a process in a container: `modal shell`, `modal container exec`,
`ContainerProcess.attach` and `modal.runner.interactive_shell`.

The remote process runs on a real PTY in the container; here the local terminal is put
in raw mode, every keystroke (Ctrl-C included, as the byte it is) goes to the remote
PTY, its output comes back to stdout, and window-size changes are sent as resizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import threading

from modal._utils.async_utils import background_loop, run_sync
from modal.io_streams import _ProcessChannel
from nodal.proto import api_pb2


def _size() -> tuple[int, int]:
    cols, rows = shutil.get_terminal_size((80, 24))
    return rows, cols


OUTPUT_DRAIN_SECONDS = 2.0


def read_ready(fd: int) -> bytes | None:
    """What a readable `fd` has: its bytes, b"" at its end (or when it broke), None when the
    wakeup was spurious (nothing to read after all)."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


async def attach_channel(channel: _ProcessChannel, stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    """Pump stdin → the process and the process's output → stdout until it exits; its exit code."""
    loop = asyncio.get_running_loop()
    stdin_open = True

    def on_stdin() -> None:
        nonlocal stdin_open
        data = read_ready(stdin_fd)
        if data is None:
            return
        if data:
            loop.create_task(channel.send_input(data))
        else:
            stdin_open = False
            loop.remove_reader(stdin_fd)
            loop.create_task(channel.send_input(eof=True))

    async def pump_output(fd: int) -> None:
        buf = channel.buffers[fd]
        while (chunk := await buf.next_chunk()) is not None:
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(stdout_fd, view):]
                except BlockingIOError:
                    await asyncio.sleep(0.005)  # the terminal is slow to take output

    reading = False
    try:
        loop.add_reader(stdin_fd, on_stdin)
        reading = True
    except (OSError, ValueError, PermissionError):
        pass  # stdin is not pollable (a regular file): the process gets no input
    pumps = [loop.create_task(pump_output(1)), loop.create_task(pump_output(2))]
    try:
        code = await channel.wait()
        # The output still in flight is shown; a background process the command left holding the
        # terminal open does not keep us here (as with `docker exec`).
        await asyncio.wait(pumps, timeout=OUTPUT_DRAIN_SECONDS)
        return code
    finally:
        if reading and stdin_open:
            loop.remove_reader(stdin_fd)
        for task in pumps:
            task.cancel()


def run_attached(first: api_pb2.ProcessStreamRequest, client) -> int:
    """Start the process `first` describes on a PTY sized like this terminal, attach, return its exit code."""
    stdin_fd = sys.stdin.fileno()
    is_tty = os.isatty(stdin_fd)
    rows, cols = _size()
    if first.WhichOneof("kind") == "exec":
        first.exec.pty, first.exec.rows, first.exec.cols = True, rows, cols
        first.exec.term = os.environ.get("TERM", "xterm-256color")

    async def start() -> _ProcessChannel:
        channel = _ProcessChannel(client, first)
        await channel.start()
        return channel

    channel = run_sync(start())
    loop = background_loop()
    old_attrs = None
    previous_winch = None
    if is_tty:
        import termios
        import tty

        old_attrs = termios.tcgetattr(stdin_fd)
        tty.setraw(stdin_fd, termios.TCSANOW)  # keep what was typed ahead (TCSAFLUSH would drop it)
        if threading.current_thread() is threading.main_thread():

            def on_winch(_sig, _frame) -> None:
                r, c = _size()
                loop.call_soon_threadsafe(lambda: loop.create_task(channel.send_input(rows=r, cols=c)))

            previous_winch = signal.signal(signal.SIGWINCH, on_winch)
    try:
        return run_sync(attach_channel(channel, stdin_fd, sys.stdout.fileno()))
    finally:
        if old_attrs is not None:
            import termios

            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, old_attrs)
        if previous_winch is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGWINCH, previous_winch)
        channel.close()
