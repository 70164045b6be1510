"""`FileIO`: a file inside a sandbox, opened with `Sandbox.open`; and the sandbox filesystem calls.

Every operation is one request to the Nodal server, which runs it inside the
sandbox (see `nodal.server.sandbox_fs`). Errors inside the sandbox come back as
`FilesystemExecutionError`; the common ones are also the matching built-in
OSError (`FileNotFoundError`, `IsADirectoryError`, ...), so either can be caught.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from modal._utils.async_utils import live_classmethod, live_function, live_method
from modal.exception import FilesystemExecutionError, InvalidError
from nodal.proto import api_pb2

T = TypeVar("T", str, bytes)

_MODES = {"r", "rb", "w", "wb", "a", "ab", "x", "xb", "r+", "rb+", "r+b", "w+", "wb+", "w+b", "a+", "ab+", "a+b"}


class FileWatchEventType(enum.Enum):
    Unknown = "Unknown"
    Access = "Access"
    Create = "Create"
    Modify = "Modify"
    Remove = "Remove"


@dataclass
class FileWatchEvent:
    paths: list[str]
    type: FileWatchEventType


def _os_error_class(name: str) -> type[FilesystemExecutionError]:
    builtin = {
        "FileNotFoundError": FileNotFoundError,
        "IsADirectoryError": IsADirectoryError,
        "NotADirectoryError": NotADirectoryError,
        "FileExistsError": FileExistsError,
        "PermissionError": PermissionError,
        "OSError": OSError,
    }.get(name)
    if builtin is None:
        return FilesystemExecutionError
    return type(name, (FilesystemExecutionError, builtin), {"__module__": "modal.file_io"})


_ERROR_CLASSES: dict[str, type[FilesystemExecutionError]] = {}


def _translate(exc: FilesystemExecutionError) -> FilesystemExecutionError:
    """`FilesystemExecutionError("FileNotFoundError: ...")` → an error that is both."""
    text = str(exc)
    name, _, message = text.partition(": ")
    if name.endswith("Error") and name.isidentifier():
        cls = _ERROR_CLASSES.setdefault(name, _os_error_class(name))
        return cls(message)
    return exc


async def _fs(client: Any, **kw: Any) -> api_pb2.SandboxFsResponse:
    try:
        return await client.stub.SandboxFs(api_pb2.SandboxFsRequest(**kw))
    except FilesystemExecutionError as exc:
        raise _translate(exc) from None


class FileIO(Generic[T]):
    """A file in a sandbox, mimicking Python's file objects (`read`, `write`, `seek`, ...)."""

    def __init__(self, client: Any, task_id: str) -> None:
        self._client = client
        self._task_id = task_id
        self._handle = 0
        self._mode = "r"
        self._binary = False
        self._closed = True

    @classmethod
    async def _open(cls, path: str, mode: str, client: Any, task_id: str) -> FileIO:
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidError(f"sandbox file paths must be absolute strings, not {path!r}")
        if mode not in _MODES:
            raise InvalidError(f"unsupported file mode {mode!r}; use r, w, a or x, with optional b and +")
        self = cls(client, task_id)
        resp = await _fs(client, sandbox_id=task_id, op="open", path=path, mode=mode)
        self._handle, self._mode, self._binary, self._closed = resp.handle, mode, "b" in mode, False
        return self

    @live_classmethod
    async def create(cls, path: str, mode: str, client: Any, task_id: str) -> FileIO:
        """Open `path` in the sandbox `task_id` (use `Sandbox.open`)."""
        return await cls._open(path, mode, client, task_id)

    def __repr__(self) -> str:
        return f"FileIO(task_id={self._task_id!r}, handle={self._handle}, mode={self._mode!r})"

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        readable = "r" in self._mode or "+" in self._mode
        writable = any(c in self._mode for c in "wax+")
        if op == "read" and not readable:
            raise ValueError(f"the file was opened with mode {self._mode!r}: it is not readable")
        if op == "write" and not writable:
            raise ValueError(f"the file was opened with mode {self._mode!r}: it is not writable")

    def _out(self, data: bytes) -> Any:
        return data if self._binary else data.decode("utf-8")

    @live_method
    async def read(self, n: int | None = None) -> T:
        """Read `n` bytes (or, in text mode, up to `n` bytes decoded) or everything left."""
        self._check_open("read")
        if n is not None and (not isinstance(n, int) or n < 0):
            raise InvalidError(f"read(n) takes a non-negative int, not {n!r}")
        resp = await _fs(self._client, sandbox_id=self._task_id, op="read", handle=self._handle,
                         n=n or 0, flag=n is not None)
        return self._out(resp.data)

    @live_method
    async def readline(self) -> T:
        """Read one line from the current position."""
        self._check_open("read")
        resp = await _fs(self._client, sandbox_id=self._task_id, op="readline", handle=self._handle)
        return self._out(resp.data)

    @live_method
    async def readlines(self) -> Sequence[T]:
        """Read all lines from the current position."""
        self._check_open("read")
        resp = await _fs(self._client, sandbox_id=self._task_id, op="read", handle=self._handle, n=0)
        return [self._out(line) for line in resp.data.splitlines(keepends=True)]

    @live_method
    async def write(self, data: bytes | str) -> None:
        """Write at the current position."""
        self._check_open("write")
        if self._binary and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"a binary-mode file takes bytes, not {type(data).__name__}")
        if not self._binary and not isinstance(data, str):
            raise TypeError(f"a text-mode file takes str, not {type(data).__name__}")
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        await _fs(self._client, sandbox_id=self._task_id, op="write", handle=self._handle, data=raw)

    @live_method
    async def flush(self) -> None:
        """Flush written data to the file."""
        self._check_open("flush")
        await _fs(self._client, sandbox_id=self._task_id, op="flush", handle=self._handle)

    @live_method
    async def seek(self, offset: int, whence: int = 0) -> None:
        """Move to `offset`: from the start (whence 0), the current position (1) or the end (2)."""
        self._check_open("seek")
        if whence not in (0, 1, 2):
            raise InvalidError(f"whence must be 0, 1 or 2, not {whence!r}")
        await _fs(self._client, sandbox_id=self._task_id, op="seek", handle=self._handle, offset=offset,
                  whence=whence)

    @live_method
    async def close(self) -> None:
        """Flush and close the file (closing twice is fine)."""
        if self._closed:
            return
        self._closed = True
        await _fs(self._client, sandbox_id=self._task_id, op="close", handle=self._handle)

    async def _replace(self, data: bytes, start: int | None, end: int | None) -> None:
        self._check_open("write")
        await _fs(self._client, sandbox_id=self._task_id, op="replace", handle=self._handle, data=data,
                  offset=start or 0, n=end or 0, flag=end is not None)

    def __enter__(self) -> FileIO:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> FileIO:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close.aio()

    # ---- directory operations (also exposed on Sandbox) ----
    @classmethod
    async def _ls(cls, path: str, client: Any, task_id: str) -> list[str]:
        return list((await _fs(client, sandbox_id=task_id, op="ls", path=path)).entries)

    @classmethod
    async def _mkdir(cls, path: str, client: Any, task_id: str, parents: bool = False) -> None:
        await _fs(client, sandbox_id=task_id, op="mkdir", path=path, flag=parents)

    @classmethod
    async def _rm(cls, path: str, client: Any, task_id: str, recursive: bool = False) -> None:
        await _fs(client, sandbox_id=task_id, op="rm", path=path, flag=recursive)

    @classmethod
    async def _watch(
        cls,
        path: str,
        client: Any,
        task_id: str,
        filter: list[FileWatchEventType] | None = None,
        recursive: bool = False,
        timeout: int | None = None,
    ) -> AsyncIterator[FileWatchEvent]:
        names = []
        for f in filter or []:
            if not isinstance(f, FileWatchEventType):
                raise InvalidError(f"watch filter takes FileWatchEventType values, not {f!r}")
            names.append(f.value)
        req = api_pb2.SandboxWatchRequest(sandbox_id=task_id, path=path, recursive=bool(recursive),
                                          timeout_secs=float(timeout or 0), filter=names)
        import grpc

        from modal.client import translate_rpc_error

        try:
            async for event in client.stub.SandboxWatch.stream(req):
                if event.type:
                    yield FileWatchEvent(paths=list(event.paths), type=FileWatchEventType(event.type))
        except grpc.aio.AioRpcError as err:
            exc = translate_rpc_error(err)
            raise (_translate(exc) if isinstance(exc, FilesystemExecutionError) else exc) from None


@live_function
async def delete_bytes(file: FileIO, start: int | None = None, end: int | None = None) -> None:
    """Delete bytes [start, end) of the file (None: from its start / to its end)."""
    await file._replace(b"", start, end)


@live_function
async def replace_bytes(file: FileIO, data: bytes, start: int | None = None, end: int | None = None) -> None:
    """Replace bytes [start, end) of the file with `data` (of any length)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("replace_bytes takes bytes")
    await file._replace(bytes(data), start, end)
