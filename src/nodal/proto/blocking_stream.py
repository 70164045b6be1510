"""The client's side of a framed stream on a blocking socket (`BlockingStream`): a blocking
`f.remote()` or Dict/Queue call goes out and comes back on the calling thread. See `framing`."""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Mapping
from typing import Any

from nodal.proto import api_pb2
from nodal.proto.framing import (
    _SERVICE,
    EOF,
    HEADER,
    MAX_FRAME,
    MESSAGE,
    METHODS,
    OPEN,
    READ_SIZE,
    STATUS,
    Endpoint,
    StreamError,
    TlsEndpoint,
    _tls_failure,
)


class BlockingStream:
    """A framed stream on a blocking socket, for a thread that would only wait anyway: a blocking
    `f.remote()` writes its input and reads its output on the calling thread, with no hop to an
    event loop and back. One per thread; not thread-safe."""

    def __init__(self, path: Endpoint, method: str, metadata: Mapping[str, str] = (), *,
                 timeout: float = 10.0) -> None:
        if method not in METHODS:
            raise ValueError(f"{method} is not served framed (only {', '.join(METHODS)})")
        self._response_type = getattr(api_pb2, _SERVICE.methods_by_name[method].output_type.name)
        self._buf = bytearray()
        self.closed = False
        self._tls = isinstance(path, TlsEndpoint)
        if self._tls:
            sock = self._connect_tls(path, timeout)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)  # connecting only: a reply may take as long as the call does
            if not self._tls:
                sock.connect(path)
            sock.settimeout(None)
            self._sock = sock
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)
            self._view = memoryview(bytearray(READ_SIZE))
            self.send(OPEN, api_pb2.StreamOpen(method=method, metadata=dict(metadata)).SerializeToString())
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _connect_tls(endpoint: TlsEndpoint, timeout: float) -> socket.socket:
        """A connected TLS socket to `endpoint`, its certificate checked (StreamError if not)."""
        try:
            raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        except OSError as exc:
            raise _tls_failure(endpoint, exc) from None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one frame is one call: no Nagle delay
            return endpoint.context.wrap_socket(raw, server_hostname=endpoint.host)
        except OSError as exc:
            raw.close()
            raise _tls_failure(endpoint, exc) from None

    def send(self, kind: int, payload: bytes = b"") -> None:
        if len(payload) > MAX_FRAME:
            raise StreamError("RESOURCE_EXHAUSTED", f"a message of {len(payload)} bytes is larger than max "
                              f"({MAX_FRAME} bytes)")
        data = HEADER.pack(len(payload), kind) + payload
        try:
            sent = self._sock.send(data)  # all of it, but for a large frame on a full socket buffer
            if sent < len(data):
                self._sock.sendall(memoryview(data)[sent:])
        except OSError as exc:
            self.close()
            raise StreamError("UNAVAILABLE", f"the connection closed ({exc})") from None

    def write(self, message: Any) -> None:
        self.send(MESSAGE, message.SerializeToString())

    def usable(self) -> bool:
        """Whether the server still holds this stream open (it sent nothing since: no STATUS, no
        close), checked without blocking before a new call goes out on it. What did arrive is
        read (TLS records that carry no data, such as session tickets, read as nothing)."""
        if self.closed:
            return False
        sock = self._sock
        if not self._buf and not (self._tls and sock.pending()) and not self._poll.poll(0):
            return True  # nothing arrived: the common case, one system call
        sock.setblocking(False)
        try:
            while True:
                n = sock.recv_into(self._view)
                if not n:
                    self.close()
                    return False
                self._buf += self._view[:n]
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError:
            self.close()
            return False
        finally:
            if not self.closed:
                sock.setblocking(True)
        if len(self._buf) >= 5 and self._buf[4] != MESSAGE:
            self.close()
            return False
        return True

    def read(self) -> Any:
        """The next response (blocking), `EOF` when the server ended the stream, or StreamError."""
        buf = self._buf
        while True:
            if len(buf) >= 5:
                length, kind = HEADER.unpack_from(buf)
                if length > MAX_FRAME:
                    self.close()
                    raise StreamError("RESOURCE_EXHAUSTED", f"a frame of {length} bytes is larger than max")
                if len(buf) >= 5 + length:
                    payload = bytes(buf[5:5 + length])
                    del buf[:5 + length]
                    if kind == MESSAGE:
                        return self._response_type.FromString(payload)
                    self.close()
                    status = api_pb2.StreamStatus.FromString(payload) if kind == STATUS else None
                    if status is not None and status.code == "OK":
                        return EOF
                    if status is None:
                        raise StreamError("INTERNAL", f"the server sent a frame of unknown kind {kind}")
                    raise StreamError(status.code, status.details, status.error_kind)
            if self.closed:
                raise StreamError("UNAVAILABLE", "the connection is closed")
            try:
                n = self._sock.recv_into(self._view)
            except OSError as exc:
                self.close()
                raise StreamError("UNAVAILABLE", f"the connection closed ({exc})") from None
            if not n:
                self.close()
                raise StreamError("UNAVAILABLE", "the server closed the connection")
            buf += self._view[:n]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._sock.close()
