"""Errors the control plane raises to clients, carrying the `modal.exception` class to rebuild."""

from __future__ import annotations

import grpc

ERROR_KIND_KEY = "nodal-error-kind"

_CODES = {
    "NotFoundError": grpc.StatusCode.NOT_FOUND,
    "InvalidError": grpc.StatusCode.INVALID_ARGUMENT,
    "AlreadyExistsError": grpc.StatusCode.ALREADY_EXISTS,
    "RequestSizeError": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "RateLimitError": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "AuthError": grpc.StatusCode.UNAUTHENTICATED,
    "ExecutionError": grpc.StatusCode.FAILED_PRECONDITION,
}


class ApiError(Exception):
    """An error meant for the client: `kind` names the modal.exception class."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def code(self) -> grpc.StatusCode:
        return _CODES.get(self.kind, grpc.StatusCode.UNKNOWN)


def not_found(message: str) -> ApiError:
    return ApiError("NotFoundError", message)


def invalid(message: str) -> ApiError:
    return ApiError("InvalidError", message)
