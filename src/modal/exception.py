"""modal.exception: the error and warning classes of the Modal client, with Modal's hierarchy.

Users catch these by name (`except modal.exception.NotFoundError`), so every class, base
class and module path matches the real Modal client. Also holds the helpers the SDK uses to
warn about deprecated APIs and to rebuild errors the Nodal server reports by class name.
"""

from __future__ import annotations

import builtins
import random
import signal
import sys
import warnings
from datetime import date
from types import FrameType


class Error(Exception):
    """Base class for all Modal errors. See `modal.exception` for the specialized error classes.

    **Usage**

    ```python
    import modal

    try:
        ...
    except modal.Error:
        # Catch any exception raised by Modal's systems.
        print("Responding to error...")
    ```
    """


class AlreadyExistsError(Error):
    """Raised when a resource creation conflicts with an existing resource."""


class RemoteError(Error):
    """Raised when an error occurs on the Modal server."""


class TimeoutError(Error):
    """Base class for Modal timeouts."""


class SandboxTimeoutError(TimeoutError):
    """Raised when a Sandbox exceeds its execution duration limit and times out."""


class SandboxTerminatedError(Error):
    """Raised when a Sandbox is terminated for an internal reason."""


class FunctionTimeoutError(TimeoutError):
    """Raised when a Function exceeds its execution duration limit and times out."""


class MountUploadTimeoutError(TimeoutError):
    """Raised when a Mount upload times out."""


class VolumeUploadTimeoutError(TimeoutError):
    """Raised when a Volume upload times out."""


class InteractiveTimeoutError(TimeoutError):
    """Raised when interactive frontends time out while trying to connect to a container."""


class OutputExpiredError(TimeoutError):
    """Raised when the Output exceeds expiration and times out."""


class AuthError(Error):
    """Raised when a client has missing or invalid authentication."""


class ConnectionError(Error):
    """Raised when an issue occurs while connecting to the Modal servers."""


class InvalidError(Error):
    """Raised when user does something invalid."""


class VersionError(Error):
    """Raised when the current client version of Modal is unsupported."""


class NotFoundError(Error):
    """Raised when a requested resource was not found."""


class ExecutionError(Error):
    """Raised when something unexpected happened during runtime."""


class FilesystemExecutionError(Error):
    """Raised when an unknown error is thrown during a container filesystem operation."""


class DeserializationError(Error):
    """Raised to provide more context when an error is encountered during deserialization."""


class SerializationError(Error):
    """Raised to provide more context when an error is encountered during serialization."""


class RequestSizeError(Error):
    """Raised when an operation produces a gRPC request that is rejected by the server for being too large."""


class RateLimitError(Error):
    """Nodal addition: the server refused a call because this token sent too many; retry later."""


class InternalFailure(Error):
    """Retriable internal error."""


class ClientClosed(Error):
    """Raised when a call is made on a client that has already been closed."""


class DeprecationError(UserWarning):
    """UserWarning category emitted when a deprecated Modal feature or API is used.

    A UserWarning (not a DeprecationWarning) so that Python's default filters show it.
    """


class PendingDeprecationError(UserWarning):
    """Soon to be deprecated feature. Only used intermittently because of multi-repo concerns."""


class ServerWarning(UserWarning):
    """Warning originating from the Modal server and re-issued in client code."""


class InputCancellation(BaseException):
    """Raised when the current input is cancelled by the task

    Intentionally a BaseException instead of an Exception, so it won't get
    caught by unspecified user exception clauses that might be used for retries and
    other control flow.
    """


class ModuleNotMountable(Exception):
    """Raised when a local Python module cannot be mounted into a container."""


class _CliUserExecutionError(Exception):
    """Private wrapper for exceptions raised while importing or running user code from the CLI.

    Not a `modal.exception.Error`: it never reaches users; the CLI prints the traceback
    starting at `user_source` (the path of the user file that raised).
    """

    def __init__(self, user_source: str):
        super().__init__(user_source)
        self.user_source = user_source


# --- deprecation helpers -------------------------------------------------------------

_INTERNAL_MODULES = ("modal", "synchronicity")


def _is_internal_frame(frame: FrameType) -> bool:
    """True for frames of the SDK itself, so warnings can point at the user's line instead."""
    module = str(frame.f_globals.get("__name__", "")).split(".")[0]
    return module in _INTERNAL_MODULES


def _user_stacklevel() -> int:
    """The `stacklevel` that attributes a warning to the first frame outside the SDK.

    For a `warnings.warn` call made by the helper that calls this function: level 1 is that
    helper, level 2 its caller, and every SDK frame above adds one.
    """
    level = 2
    frame: FrameType | None = sys._getframe(2)  # the helper's caller
    while frame is not None and _is_internal_frame(frame):
        level += 1
        frame = frame.f_back
    return level


def deprecation_error(deprecated_on: tuple[int, int, int], msg: str) -> None:
    """Raise a DeprecationError for an API that no longer works at all."""
    raise DeprecationError(f"Deprecated on {date(*deprecated_on)}: {msg}")


def deprecation_warning(
    deprecated_on: tuple[int, int, int], msg: str, *, pending: bool = False, show_source: bool = True
) -> None:
    """Warn that a Modal API is deprecated, as Modal does: `"YYYY-MM-DD: msg"`.

    The category is `DeprecationError` (`PendingDeprecationError` when `pending`), a
    UserWarning, so it is visible by default. With `show_source` the warning is attributed to
    the first frame outside the SDK: the user's line that used the deprecated API.
    """
    category: type[Warning] = PendingDeprecationError if pending else DeprecationError
    message = f"{date(*deprecated_on)}: {msg}"
    if show_source:
        warnings.warn(message, category, stacklevel=_user_stacklevel())
    else:
        warnings.warn_explicit(message, category, "<unknown>", 0)


def server_warning(message: str) -> None:
    """Re-issue a warning sent by the server, attributed to the user's line."""
    warnings.warn(message, ServerWarning, stacklevel=_user_stacklevel())


# --- rebuilding server errors ----------------------------------------------------------

_BY_NAME: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        Error,
        AlreadyExistsError,
        RemoteError,
        TimeoutError,
        SandboxTimeoutError,
        SandboxTerminatedError,
        FunctionTimeoutError,
        MountUploadTimeoutError,
        VolumeUploadTimeoutError,
        InteractiveTimeoutError,
        OutputExpiredError,
        AuthError,
        ConnectionError,
        InvalidError,
        VersionError,
        NotFoundError,
        ExecutionError,
        FilesystemExecutionError,
        DeserializationError,
        SerializationError,
        RequestSizeError,
        InternalFailure,
        ClientClosed,
        InputCancellation,
        ModuleNotMountable,
    )
}


def error_from_name(kind: str, message: str) -> BaseException:
    """Rebuild an exception the server reported as (class name, message).

    `kind` is a `modal.exception` class name, optionally qualified
    (`"modal.exception.NotFoundError"`); builtin exception names (`"KeyError"`) map to the
    builtin. Modal names win over builtins (`"TimeoutError"` is Modal's). Anything unknown
    becomes a `RemoteError` whose message keeps the original kind, so nothing is lost.
    """
    name = kind.rsplit(".", 1)[-1]
    cls = _BY_NAME.get(name)
    if cls is None:
        candidate = getattr(builtins, name, None)
        if (
            isinstance(candidate, type)
            and issubclass(candidate, Exception)
            and not issubclass(candidate, Warning)
        ):
            cls = candidate
    if cls is None:
        return RemoteError(f"{kind}: {message}" if kind else message)
    return cls(message)


# --- preemption simulation -------------------------------------------------------------


def _simulate_preemption_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGALRM handler: arm the simulated SIGKILL in 30 s, then interrupt like a preemption."""
    signal.alarm(30)
    raise KeyboardInterrupt("Simulated preemption interrupt from modal-client!")


def simulate_preemption(wait_seconds: int, jitter_seconds: int = 0) -> None:
    """
    Utility for simulating a preemption interrupt after `wait_seconds` seconds.
    The first interrupt is the SIGINT signal. After 30 seconds, a second
    interrupt will trigger.

    This second interrupt simulates SIGKILL, and should not be caught.
    Optionally add between zero and `jitter_seconds` seconds of additional waiting before first interrupt.

    Uses SIGALRM, so it must be called from the main thread.
    """
    if wait_seconds <= 0:
        raise InvalidError(f"wait_seconds must be a positive number of seconds, got {wait_seconds!r}")
    signal.signal(signal.SIGALRM, _simulate_preemption_interrupt)
    jitter = random.randrange(0, jitter_seconds) if jitter_seconds else 0
    signal.alarm(wait_seconds + jitter)
