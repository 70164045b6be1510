"""Nodal's `modal` SDK: the Modal programming model, served by your own Nodal server."""

from modal import exception, retries  # noqa: F401
from modal._container import current_function_call_id, current_input_id, is_local
from modal.app import App
from modal.client import Client
from modal.cls import Cls, parameter
from modal.exception import Error
from modal.functions import Function, FunctionCall
from modal.image import Image
from modal.output import enable_output
from modal.partial_function import (
    asgi_app,
    batched,
    build,
    concurrent,
    enter,
    exit,
    fastapi_endpoint,
    method,
    web_endpoint,
    web_server,
    wsgi_app,
)
from modal.retries import Retries
from modal.secret import Secret

__version__ = "0.1.0"

# Loaded on first use: containers import `modal` at every cold start, and these are not
# needed to run a function (config reads files; schedules pull in time zone data).
_LAZY = {"Cron": "modal.schedule", "Period": "modal.schedule", "config": "modal.config",
         "call_graph": "modal.call_graph", "gpu": "modal.gpu", "schedule": "modal.schedule",
         "Dict": "modal.dict", "dict": "modal.dict", "Queue": "modal.queue", "queue": "modal.queue",
         "Volume": "modal.volume", "volume": "modal.volume",
         "NetworkFileSystem": "modal.network_file_system", "network_file_system": "modal.network_file_system",
         "Sandbox": "modal.sandbox", "sandbox": "modal.sandbox", "ContainerProcess": "modal.container_process",
         "container_process": "modal.container_process", "io_streams": "modal.io_streams",
         "stream_type": "modal.stream_type", "FileIO": "modal.file_io", "file_io": "modal.file_io",
         "Tunnel": "modal._tunnel", "forward": "modal._tunnel",
         "Mount": "modal.mount", "mount": "modal.mount",
         "CloudBucketMount": "modal.cloud_bucket_mount", "cloud_bucket_mount": "modal.cloud_bucket_mount",
         "FilePatternMatcher": "modal.file_pattern_matcher", "file_pattern_matcher": "modal.file_pattern_matcher",
         "Proxy": "modal.proxy", "proxy": "modal.proxy"}


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modal' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value = module if module_name.endswith(name) else getattr(module, name)
    globals()[name] = value
    return value


Stub = App  # the old name of App


def interact() -> None:
    """Attach this container's stdin, stdout and stderr to the terminal of the app's frontend
    (`modal run -i`), for `input()` and debuggers; a no-op locally. Without a frontend it raises
    `modal.exception.InteractiveTimeoutError` saying how to get one."""
    if is_local():
        return
    from modal._interact import interact as attach

    attach()


__all__ = [
    "App", "Client", "CloudBucketMount", "Cls", "Cron", "Dict", "Error", "FilePatternMatcher", "Function", "FunctionCall",
    "Image", "NetworkFileSystem", "Period", "Proxy", "Queue", "Retries", "Sandbox", "Secret", "Stub", "Tunnel", "Volume", "batched", "build", "concurrent", "current_function_call_id", "current_input_id", "enable_output",
    "enter", "exit", "forward", "interact", "is_local", "method", "parameter",
    "asgi_app", "fastapi_endpoint", "web_endpoint", "web_server", "wsgi_app",
]
