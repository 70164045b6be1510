"""What user code can ask about where it runs: `is_local`, the current input and call."""

from __future__ import annotations

import contextvars
import os

_current_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modal_input_id", default=None)
_current_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modal_call_id", default=None)


def is_local() -> bool:
    """True unless this code runs inside a Modal container."""
    return os.environ.get("MODAL_IS_REMOTE") != "1"


def current_input_id() -> str | None:
    """The id of the input being processed, inside a container; None elsewhere."""
    return _current_input_id.get()


def current_function_call_id() -> str | None:
    """The id of the function call the current input belongs to, inside a container; None elsewhere."""
    return _current_call_id.get()


def set_current(input_id: str | None, call_id: str | None) -> None:
    _current_input_id.set(input_id)
    _current_call_id.set(call_id)
