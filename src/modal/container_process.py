"""`ContainerProcess`: a process exec'd in a running sandbox (`Sandbox.exec`) or container."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from modal._utils.async_utils import live_method
from modal.io_streams import StreamReader, StreamType, StreamWriter, _ProcessChannel

T = TypeVar("T", str, bytes)


class ContainerProcess(Generic[T]):
    """A running (or finished) process inside a sandbox, with its stdin, stdout and stderr."""

    def __init__(
        self,
        process_id: str,
        client: Any,
        stdout: StreamType = StreamType.PIPE,
        stderr: StreamType = StreamType.PIPE,
        text: bool = True,
        by_line: bool = False,
        *,
        _channel: _ProcessChannel | None = None,
    ) -> None:
        if _channel is None:
            raise TypeError("ContainerProcess objects are made by Sandbox.exec(), not constructed directly")
        self._process_id = process_id
        self._client = client
        self._channel_obj = _channel

        async def channel() -> _ProcessChannel:
            return _channel

        self._stdout: StreamReader = StreamReader(1, channel, text=text, by_line=by_line, stream_type=stdout)
        self._stderr: StreamReader = StreamReader(2, channel, text=text, by_line=by_line, stream_type=stderr)
        self._stdin = StreamWriter(channel)

    def __repr__(self) -> str:
        return f"ContainerProcess({self._process_id!r})"

    @property
    def stdout(self) -> StreamReader[T]:
        """StreamReader for the process's stdout."""
        return self._stdout

    @property
    def stderr(self) -> StreamReader[T]:
        """StreamReader for the process's stderr."""
        return self._stderr

    @property
    def stdin(self) -> StreamWriter:
        """StreamWriter for the process's stdin."""
        return self._stdin

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has finished (after `wait()` or a `poll()` that saw it end)."""
        return self._channel_obj.exit_code

    @live_method
    async def poll(self) -> int | None:
        """The exit code if the process has finished, else None."""
        return self._channel_obj.exit_code

    @live_method
    async def wait(self) -> int:
        """Wait for the process to finish; returns its exit code."""
        return await self._channel_obj.wait()

    @live_method
    async def attach(self, *, pty: bool | None = None) -> None:
        """Connect this terminal to the process (use `modal shell`/`modal container exec` for a PTY)."""
        from modal._terminal import attach_channel

        await attach_channel(self._channel_obj)
