"""Nodal's `modal` SDK: the Modal programming model, served by your own Nodal server."""

from modal import call_graph, config, exception, gpu, retries, schedule  # noqa: F401
from modal._container import current_function_call_id, current_input_id, is_local
from modal.app import App
from modal.client import Client
from modal.cls import Cls, parameter
from modal.exception import Error
from modal.functions import Function, FunctionCall
from modal.image import Image
from modal.output import enable_output
from modal.partial_function import batched, concurrent, enter, exit, method
from modal.retries import Retries
from modal.schedule import Cron, Period
from modal.secret import Secret

__version__ = "0.1.0"

Stub = App  # the old name of App


def interact() -> None:
    """Enable interactive use (`modal run -i`): lets the container's code read from the terminal."""
    import sys

    if not is_local() and not sys.stdin.isatty():
        raise exception.InvalidError(
            "modal.interact() needs an interactive session: run the app with `modal run -i`"
        )


__all__ = [
    "App", "Client", "Cls", "Cron", "Error", "Function", "FunctionCall", "Image", "Period", "Retries",
    "Secret", "Stub", "batched", "concurrent", "current_function_call_id", "current_input_id", "enable_output",
    "enter", "exit", "interact", "is_local", "method", "parameter",
]
