"""The gate every RPC passes: it authenticates, authorises, limits and scopes the call.

It is the server's generic RPC handler (not an aio interceptor: gRPC calls a generic handler
synchronously, where an interceptor chain costs a coroutine per call) and hands gRPC the
servicer's method handler wrapped for the caller. One instance per listener: on the owner's unix socket (`trust_owner=True`) a call without
credentials is the owner's; on the containers' socket and the TLS port every call must carry a
user token or a container credential. The handler then runs with the caller's `Identity` set
(identity.current()) and its request already scoped to the caller's workspace (scope.py).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import DecodeError

from nodal.proto import api_pb2
from nodal.server.auth import identity as _identity
from nodal.server.auth.identity import DEFAULT_WORKSPACE, OWNER, Identity
from nodal.server.auth.limits import Limits
from nodal.server.auth.permissions import forbidden_reason
from nodal.server.auth.scope import Scope
from nodal.server.auth.tokens import AuthFailure, TokenService
from nodal.server.errors import ERROR_KIND_KEY, ApiError

log = logging.getLogger("nodal.auth")
_SERVICE = api_pb2.DESCRIPTOR.services_by_name["Nodal"]

TOKEN_ID_KEY = "x-modal-token-id"
TOKEN_SECRET_KEY = "x-modal-token-secret"
CONTAINER_ID_KEY = "x-nodal-container-id"
CONTAINER_TOKEN_KEY = "x-nodal-container-token"
_KEYS = (TOKEN_ID_KEY, TOKEN_SECRET_KEY, CONTAINER_ID_KEY, CONTAINER_TOKEN_KEY)


def servicer_handlers(servicer: Any, add_to_server: Callable[[Any, Any], None]) -> dict[str, Any]:
    """The servicer's method handlers by full method path ("/package.Service/Method"), as the
    generated `add_<Service>Servicer_to_server` function builds them."""

    class _Collect:
        def __init__(self) -> None:
            self.handlers: dict[str, Any] = {}

        def add_generic_rpc_handlers(self, _handlers: Any) -> None:
            pass

        def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
            self.handlers.update({f"/{service}/{name}": h for name, h in handlers.items()})

    collect = _Collect()
    add_to_server(servicer, collect)
    return collect.handlers


class _Admitted(NamedTuple):
    handler: Any  # the servicer's own handler
    who: Identity
    method: str  # its name ("DataStream")


class AuthGate(grpc.GenericRpcHandler):
    def __init__(
        self,
        handlers: dict[str, Any],
        tokens: TokenService,
        containers: Callable[[str, str], Identity | None],
        scope: Scope,
        limits: Limits,
        *,
        trust_owner: bool,
    ) -> None:
        self.handlers = handlers  # full method path -> the servicer's handler
        self.tokens = tokens
        self.containers = containers  # (container id, its token) -> its Identity, or None
        self.scope = scope
        self.limits = limits
        self.trust_owner = trust_owner
        self._wrapped: dict[tuple[Any, Identity], Any] = {}

    def service(self, details):
        admitted = self._admit(details)
        if not isinstance(admitted, _Admitted):
            return admitted  # None for an unknown method (gRPC answers UNIMPLEMENTED), or a refusal
        return self._wrapped_for(*admitted)

    def admit_stream(self, details, *, inline: bool) -> tuple[Any, StreamGuard | None]:
        """For the framed server: the caller admitted once, as `service()` admits it. (the
        servicer's own handler, a StreamGuard) for a caller of the default workspace whose
        streams are checked per message (a token's, a container's other than its WorkerStream),
        or whose stream the server answers in the read callback (`inline` offered): the server
        then runs the handler itself, each message checked by the guard first, with no wrapper
        between (the messages need no unscoping there). Else (the handler `service()` gives, None)."""
        admitted = self._admit(details)
        if not isinstance(admitted, _Admitted):
            return admitted, None
        handler, who, method = admitted
        if (handler.stream_stream and who.workspace == DEFAULT_WORKSPACE
                and (inline or not self._direct(handler, who, method))):
            return handler, self._guard(handler, who, method)
        return self._wrapped_for(handler, who, method), None

    def _wrapped_for(self, handler, who: Identity, method: str):
        key = (handler, who, self.scope.other_workspaces)
        wrapped = self._wrapped.get(key)
        if wrapped is None:  # built once per (method, caller), not per call
            if len(self._wrapped) > 10_000:
                self._wrapped.clear()
            wrapped = self._wrapped[key] = self._wrap(handler, who, method)
        return wrapped

    def _admit(self, details) -> _Admitted | Any:
        """(the servicer's handler, the caller, the method's name) for a caller let in; else
        None for an unknown method, or a handler that refuses the call with the reason."""
        handler = self.handlers.get(details.method)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        try:
            who = self._authenticate(details.invocation_metadata or ())
            reason = forbidden_reason(method, who)
            if reason:
                raise ApiError("AuthError", reason)
            if who.kind != "owner":
                if not self.limits.allow(who.token_id or who.container_id):
                    raise ApiError("RateLimitError", "too many requests for this token: slow down and retry "
                                   f"(the limit is {self.limits.rate:g} per second)")
        except AuthFailure as exc:
            return _refusal(handler, "AuthError", str(exc))
        except ApiError as exc:
            return _refusal(handler, exc.kind, exc.message)
        return _Admitted(handler, who, method)

    def _guard(self, handler, who: Identity, method: str) -> StreamGuard:
        return StreamGuard(who, self.limits, self.scope, _SERVICE.methods_by_name[method].input_type,
                           handler.request_deserializer, handler.response_serializer)

    def _authenticate(self, metadata) -> Identity:
        md = {k: v for k, v in metadata if k in _KEYS}
        if CONTAINER_ID_KEY in md:
            who = self.containers(md[CONTAINER_ID_KEY], md.get(CONTAINER_TOKEN_KEY, ""))
            if who is None:
                raise AuthFailure("this container's credential is not valid (the container has stopped?)")
            return who
        if TOKEN_ID_KEY in md or TOKEN_SECRET_KEY in md or not self.trust_owner:
            return self.tokens.verify(md.get(TOKEN_ID_KEY, ""), md.get(TOKEN_SECRET_KEY, ""))
        return OWNER

    def _wrap(self, handler, who: Identity, method: str):
        scope = self.scope
        # (client streams only: a unary request is decoded by the wrapper, so that garbage is refused cleanly)
        if handler.request_streaming and self._direct(handler, who, method):
            return handler  # nothing to check per message: no extra hop on hot streams
        unscope = who.workspace != DEFAULT_WORKSPACE

        if handler.unary_unary:
            inner = handler.unary_unary
            deserialize = handler.request_deserializer

            async def unary_unary(raw, context):
                _identity.set_current(who)
                try:
                    request = deserialize(raw) if deserialize is not None else raw
                except DecodeError:  # decoded here, so that garbage is the caller's error, not a server one
                    await _abort(context, ApiError("InvalidError", "the request message is malformed"))
                try:
                    scope.check(request, who)
                except ApiError as err:
                    await _abort(context, err)
                response = await inner(request, context)
                if unscope and response is not None:
                    scope.unscope_response(response)
                return response

            return grpc.unary_unary_rpc_method_handler(unary_unary, None, handler.response_serializer)

        guard = self._guard(handler, who, method)

        def scoped_requests(requests, refused: list[ApiError]):
            """The request stream, checked message by message. A refused message ends the stream
            (handlers may read it from another task); the wrapper then fails the RPC with it."""
            async def gen():
                async for msg in requests:
                    try:
                        guard.check(msg)
                    except ApiError as err:
                        refused.append(err)
                        raise
                    yield msg
            return gen()

        async def open_stream(context) -> None:
            try:
                guard.open()
            except ApiError as err:
                await _abort(context, err)

        close_stream = guard.close

        def run_stream(result, context):
            """The handler's responses (unscoped for a non-default workspace's caller)."""
            if not inspect.isasyncgen(result):
                return _awaited(result)
            return _unscoped(result, scope) if unscope else result

        if handler.unary_stream:
            inner_us = handler.unary_stream
            deserialize_us = handler.request_deserializer

            async def unary_stream(raw, context):
                _identity.set_current(who)
                try:
                    request = deserialize_us(raw) if deserialize_us is not None else raw
                except DecodeError:
                    await _abort(context, ApiError("InvalidError", "the request message is malformed"))
                await open_stream(context)
                try:
                    scope.check(request, who)
                    async for item in run_stream(inner_us(request, context), context):
                        yield item
                except ApiError as err:
                    await _abort(context, err)
                finally:
                    close_stream()

            return grpc.unary_stream_rpc_method_handler(unary_stream, None, handler.response_serializer)

        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream_unary(request_iterator, context):
                _identity.set_current(who)
                await open_stream(context)
                refused: list[ApiError] = []
                try:
                    response = await inner_su(scoped_requests(request_iterator, refused), context)
                except ApiError as err:
                    refused.append(err)
                finally:
                    close_stream()
                if refused:
                    await _abort(context, refused[0])
                return response

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, handler.request_deserializer, handler.response_serializer)

        inner_ss = handler.stream_stream

        async def stream_stream(request_iterator, context):
            _identity.set_current(who)
            await open_stream(context)
            refused: list[ApiError] = []
            try:
                requests = scoped_requests(request_iterator, refused)
                async for item in run_stream(inner_ss(requests, context), context):
                    if refused:
                        break
                    yield item
            except ApiError as err:
                refused.append(err)
            finally:
                close_stream()
            if refused:
                await _abort(context, refused[0])

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, handler.request_deserializer, handler.response_serializer)

    def _direct(self, handler, who: Identity, method: str) -> bool:
        """Whether a streaming RPC can run unwrapped for `who`: the owner's streams whose messages
        carry nothing to scope (the identity already defaults to the owner), and a container's own
        WorkerStream (the scheduler accepts only its hello token and the outputs of inputs it holds;
        its messages are not rate-limited: a busy container sends thousands a second)."""
        if who.kind == "container":
            return method == "WorkerStream"
        if who.kind != "owner" or who.workspace != DEFAULT_WORKSPACE:
            return False
        request_type = _SERVICE.methods_by_name[method].input_type
        return not self.scope.needed(request_type, who)


class StreamGuard:
    """What one caller's streams of one method are checked for: each stream counted against the
    caller's open streams, each message against its rate, and each message scoped where scoping
    can apply. The wrapped stream handlers use it, and so does the framed server, which runs a
    default-workspace caller's streams without the wrapper (nodal.server.framed_streams). Holds no
    per-stream state: `close()` once for each `open()` that succeeded."""

    def __init__(self, who: Identity, limits: Limits, scope: Scope, request_type: Any,
                 decode: Callable[[bytes], Any], encode: Callable[[Any], bytes]) -> None:
        self.who = who
        self.decode, self.encode = decode, encode  # the method's request and response (de)serialisers
        self._limits = limits if who.kind != "owner" else None  # the owner is not limited
        self._key = who.token_id or who.container_id
        self._scope = scope
        self._request_type = request_type

    def open(self) -> None:
        """Count a stream as open; RateLimitError when the caller has too many open."""
        if self._limits is not None and not self._limits.open_stream(self._key):
            raise ApiError("RateLimitError", f"this token has {self._limits.max_streams} streams open "
                           "already: close some (or use fewer clients) and retry")

    def check(self, message: Any) -> None:
        """Rate-limit and scope one request message in place; ApiError refuses it (and ends the stream)."""
        if self._limits is not None and not self._limits.allow(self._key):
            raise ApiError("RateLimitError", "too many streamed messages for this token: "
                           f"slow down and retry (the limit is {self._limits.rate:g} per second)")
        if self._scope.needed(self._request_type, self.who):  # re-asked: another workspace may appear
            self._scope.check(message, self.who)

    def close(self) -> None:
        """A stream counted by `open()` has ended."""
        if self._limits is not None:
            self._limits.close_stream(self._key)


async def _awaited(result):
    """A stream handler that writes its responses itself, as an empty response stream."""
    await result
    return
    yield  # pragma: no cover - makes this an async generator


async def _unscoped(responses, scope: Scope):
    async for item in responses:
        scope.unscope_response(item)
        yield item


async def _abort(context, err: ApiError) -> None:
    context.set_trailing_metadata(((ERROR_KIND_KEY, err.kind),))
    await context.abort(err.code, err.message)


def _refusal(handler, kind: str, message: str):
    """A handler of the same shape as `handler` that refuses the call without reading it."""
    err = ApiError(kind, message)

    async def refuse(_request, context):
        await _abort(context, err)

    async def refuse_stream(_request, context):
        await _abort(context, err)
        yield  # pragma: no cover - makes this an async generator

    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.stream_stream_rpc_method_handler(refuse_stream)
