"""Decorators for servicer methods: ApiError becomes a gRPC status naming the modal.exception."""

from __future__ import annotations

import functools
import logging

import grpc
from google.protobuf.message import DecodeError

from nodal.server.errors import ERROR_KIND_KEY, ApiError

log = logging.getLogger("nodal.servicer")


def _rpc(fn):
    """Map ApiError to a gRPC status carrying the modal.exception kind; never crash the server."""

    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            return await fn(self, request, context)
        except ApiError as err:
            context.set_trailing_metadata(((ERROR_KIND_KEY, err.kind),))
            await context.abort(err.code, err.message)
        except DecodeError:  # a streamed request message that is not one (gRPC decodes it as it is read)
            context.set_trailing_metadata(((ERROR_KIND_KEY, "InvalidError"),))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{fn.__name__}: a request message is malformed")
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("internal error in %s", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {fn.__name__}: {exc!r}")

    return wrapper


def _stream_rpc(fn):
    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            async for item in fn(self, request, context):
                yield item
        except ApiError as err:
            context.set_trailing_metadata(((ERROR_KIND_KEY, err.kind),))
            await context.abort(err.code, err.message)
        except DecodeError:  # a streamed request message that is not one
            context.set_trailing_metadata(((ERROR_KIND_KEY, "InvalidError"),))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{fn.__name__}: a request message is malformed")

    return wrapper
