"""A `Nodal` service stub whose methods are made on first use.

The generated `api_pb2_grpc` module defines every RPC up front and takes ~20 ms to import;
a container's worker uses four of them and starts on every cold start, so it builds just
those from the service descriptor instead. Same calling convention as `NodalStub`.
"""

from __future__ import annotations

from typing import Any

from nodal.proto import api_pb2

_SERVICE = api_pb2.DESCRIPTOR.services_by_name["Nodal"]


class LazyNodalStub:
    """`metadata` (the caller's credentials) is sent with every call unless a call passes its own."""

    def __init__(self, channel: Any, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._channel = channel
        self._metadata = tuple(metadata)

    def __getattr__(self, name: str) -> Any:
        method = _SERVICE.methods_by_name.get(name)
        if method is None:
            raise AttributeError(f"the Nodal service has no method {name!r}")
        request = getattr(api_pb2, method.input_type.name)
        response = getattr(api_pb2, method.output_type.name)
        kind = {
            (False, False): self._channel.unary_unary,
            (False, True): self._channel.unary_stream,
            (True, False): self._channel.stream_unary,
            (True, True): self._channel.stream_stream,
        }[(method.client_streaming, method.server_streaming)]
        call = kind(
            f"/{_SERVICE.full_name}/{name}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )
        if self._metadata:
            call = _WithMetadata(call, self._metadata)
        setattr(self, name, call)  # built once
        return call


class _WithMetadata:
    """A multicallable that adds default metadata."""

    __slots__ = ("_call", "_metadata")

    def __init__(self, call: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._call = call
        self._metadata = metadata

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("metadata", self._metadata)
        return self._call(*args, **kwargs)
