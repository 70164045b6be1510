"""Decorators that mark functions and methods before `@app.function`/`@app.cls` see them:
`method`, `enter`, `exit`, `build` (deprecated), `batched`, `concurrent`, and the web decorators `fastapi_endpoint`,
`web_endpoint`, `asgi_app`, `wsgi_app`, `web_server`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modal.exception import InvalidError

MAX_BATCH_SIZE = 1000
MAX_BATCH_WAIT_MS = 10 * 60 * 1000


@dataclass
class _PartialFunction:
    """A user function with the Modal roles and options given to it by decorators."""

    raw_f: Callable[..., Any]
    roles: set[str] = field(default_factory=set)  # "method", "enter", "exit", "build"
    is_generator: bool | None = None
    snap: bool = False
    batch_max_size: int = 0
    batch_wait_ms: int = 0
    max_concurrent_inputs: int = 0
    target_concurrent_inputs: int = 0
    web: Any = None  # nodal.proto.api_pb2.WebEndpoint for a web endpoint
    build_force: bool = False  # @modal.build(force=): rebuild its image layer every time
    build_timeout: int = 86400  # @modal.build(timeout=): seconds the build step may take

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # Accessed on a plain (local) instance: behave like the function itself.
        if obj is None:
            return self
        return self.raw_f.__get__(obj, objtype)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self.raw_f.__name__


PartialFunction = _PartialFunction


def _as_partial(f: Any, decorator: str) -> _PartialFunction:
    if isinstance(f, _PartialFunction):
        return f
    if inspect.isclass(f):
        raise InvalidError(f"@modal.{decorator} applies to functions and methods, not to class {f.__name__}")
    if not callable(f):
        raise InvalidError(f"@modal.{decorator} must decorate a function, got {type(f).__name__}")
    return _PartialFunction(raw_f=f)


def _check_parentheses(f: Any, name: str) -> None:
    if f is not None:
        raise InvalidError(f"use `@modal.{name}()` with parentheses, not `@modal.{name}`")


def method(_warn_parentheses_missing: Any = None, *, is_generator: bool | None = None) -> Callable[[Any], _PartialFunction]:
    """Mark a method of an `@app.cls` class as remotely callable."""
    _check_parentheses(_warn_parentheses_missing, "method")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "method")
        pf.roles.add("method")
        pf.is_generator = is_generator
        return pf

    return wrapper


def enter(_warn_parentheses_missing: Any = None, *, snap: bool = False) -> Callable[[Any], _PartialFunction]:
    """Run this method once when a container starts, before it takes inputs."""
    _check_parentheses(_warn_parentheses_missing, "enter")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "enter")
        pf.roles.add("enter")
        pf.snap = snap
        return pf

    return wrapper


def exit(_warn_parentheses_missing: Any = None) -> Callable[[Any], _PartialFunction]:
    """Run this method when a container shuts down."""
    _check_parentheses(_warn_parentheses_missing, "exit")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "exit")
        if inspect.signature(pf.raw_f).parameters.keys() - {"self"}:
            raise InvalidError("@modal.exit() methods take no arguments besides self")
        pf.roles.add("exit")
        return pf

    return wrapper


def build(_warn_parentheses_missing: Any = None, *, force: bool = False,
          timeout: int = 86400) -> Callable[[Any], _PartialFunction]:
    """Deprecated: run this method when the class's image is built; what it writes to the
    filesystem becomes a layer of the image its containers start from (each @build method an
    `Image.run_function` step, with the class's secrets and GPU, on an instance holding the
    parameters' defaults). Use a `modal.Volume` for model weights, or `Image.run_function`."""
    from modal.exception import deprecation_warning

    _check_parentheses(_warn_parentheses_missing, "build")
    deprecation_warning((2025, 1, 15), "@modal.build is deprecated: store large assets in a modal.Volume, "
                        "or build them into the image with Image.run_function")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidError(f"@modal.build(timeout=) must be a positive number of seconds, got {timeout!r}")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "build")
        if inspect.signature(pf.raw_f).parameters.keys() - {"self"}:
            raise InvalidError("@modal.build() methods take no arguments besides self")
        pf.roles.add("build")
        pf.build_force, pf.build_timeout = bool(force), timeout
        return pf

    return wrapper


def batched(_warn_parentheses_missing: Any = None, *, max_batch_size: int, wait_ms: int) -> Callable[[Any], _PartialFunction]:
    """Collect single calls into lists of up to `max_batch_size`, waiting at most `wait_ms`."""
    _check_parentheses(_warn_parentheses_missing, "batched")
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_BATCH_SIZE:
        raise InvalidError(f"max_batch_size must be an int between 1 and {MAX_BATCH_SIZE}, got {max_batch_size!r}")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms < MAX_BATCH_WAIT_MS:
        raise InvalidError(f"wait_ms must be an int between 0 and {MAX_BATCH_WAIT_MS - 1}, got {wait_ms!r}")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "batched")
        if pf.max_concurrent_inputs:
            raise InvalidError("@modal.batched and @modal.concurrent can't be combined")
        pf.batch_max_size, pf.batch_wait_ms = max_batch_size, wait_ms
        return pf

    return wrapper


def concurrent(
    _warn_parentheses_missing: Any = None, *, max_inputs: int, target_inputs: int | None = None
) -> Callable[[Any], Any]:
    """Let one container run up to `max_inputs` inputs at once (aim for `target_inputs`)."""
    _check_parentheses(_warn_parentheses_missing, "concurrent")
    if not isinstance(max_inputs, int) or max_inputs < 1:
        raise InvalidError(f"max_inputs must be a positive int, got {max_inputs!r}")
    if target_inputs is not None and (not isinstance(target_inputs, int) or not 1 <= target_inputs <= max_inputs):
        raise InvalidError(f"target_inputs must be an int between 1 and max_inputs ({max_inputs})")

    def wrapper(f: Any) -> Any:
        if inspect.isclass(f):
            f.__modal_concurrent__ = (max_inputs, target_inputs or max_inputs)
            return f
        pf = _as_partial(f, "concurrent")
        if pf.batch_max_size:
            raise InvalidError("@modal.batched and @modal.concurrent can't be combined")
        pf.max_concurrent_inputs, pf.target_concurrent_inputs = max_inputs, target_inputs or max_inputs
        return pf

    return wrapper


def find_partials(user_cls: type) -> dict[str, _PartialFunction]:
    """Every decorated method of a class (including inherited ones), by attribute name."""
    found: dict[str, _PartialFunction] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _PartialFunction):
                found[name] = value
    return found



# ---------- web endpoints ----------
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _web_options(decorator: str, label: str | None, custom_domains: Any, requires_proxy_auth: bool,
                 wait_for_response: bool = True) -> dict[str, Any]:
    if label is not None:
        if not isinstance(label, str) or not label or len(label) > 63 or not set(label) <= _LABEL_CHARS \
                or label.startswith("-") or label.endswith("-"):
            raise InvalidError(f"@modal.{decorator}(label={label!r}): a label is 1-63 lowercase letters, digits "
                               "and '-', not starting or ending with '-'")
    domains = []
    for d in custom_domains or ():
        if not isinstance(d, str) or "." not in d or "/" in d or ":" in d:
            raise InvalidError(f"@modal.{decorator}(custom_domains=...): {d!r} is not a domain name")
        domains.append(d.lower().rstrip("."))
    if not isinstance(requires_proxy_auth, bool):
        raise InvalidError(f"@modal.{decorator}(requires_proxy_auth=) must be True or False")
    if not wait_for_response:
        from modal.exception import deprecation_error

        deprecation_error((2024, 5, 13), "wait_for_response=False has been removed; web endpoints always "
                          "wait for the response")
    return {"label": label or "", "custom_domains": domains, "requires_proxy_auth": requires_proxy_auth}


def _web_wrapper(decorator: str, web: Any, takes_args: bool) -> Callable[[Any], _PartialFunction]:
    def wrapper(f: Any) -> _PartialFunction:
        from modal.functions import Function

        if isinstance(f, Function):
            raise InvalidError(f"apply @modal.{decorator}() below @app.function(), not above it:\n\n"
                               f"@app.function()\n@modal.{decorator}(...)\ndef {f.tag}(...): ...")
        pf = _as_partial(f, decorator)
        if pf.web is not None:
            raise InvalidError(f"{pf.__name__} already has a web decorator; use only one per function")
        if not takes_args:
            params = [p for p in inspect.signature(pf.raw_f).parameters.values()
                      if p.default is inspect.Parameter.empty and p.name != "self"
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if params:
                raise InvalidError(f"@modal.{decorator}() functions take no arguments: {pf.__name__} "
                                   f"has {', '.join(p.name for p in params)}")
        pf.web = web
        return pf

    return wrapper


def fastapi_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    custom_domains: Any = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], _PartialFunction]:
    """Serve this function as a FastAPI handler at its endpoint's `/` (CORS enabled; `/docs` with
    `docs=True`). Query parameters and JSON bodies map to its arguments as FastAPI does; the
    image must have `fastapi` installed (e.g. `Image.debian_slim().pip_install("fastapi[standard]")`)."""
    _check_parentheses(_warn_parentheses_missing, "fastapi_endpoint")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise InvalidError(f"@modal.fastapi_endpoint(method={method!r}): use one of {', '.join(HTTP_METHODS)}")
    from nodal.proto import api_pb2

    web = api_pb2.WebEndpoint(kind="fastapi", http_method=method.upper(), docs=bool(docs),
                              **_web_options("fastapi_endpoint", label, custom_domains, requires_proxy_auth))
    return _web_wrapper("fastapi_endpoint", web, takes_args=True)


def web_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    docs: bool = False,
    custom_domains: Any = None,
    requires_proxy_auth: bool = False,
    wait_for_response: bool = True,
) -> Callable[[Any], _PartialFunction]:
    """Deprecated name of `fastapi_endpoint`."""
    from modal.exception import deprecation_warning

    _check_parentheses(_warn_parentheses_missing, "web_endpoint")
    deprecation_warning((2025, 3, 5), "@modal.web_endpoint is deprecated: use @modal.fastapi_endpoint "
                        "(same parameters)")
    _web_options("web_endpoint", label, custom_domains, requires_proxy_auth, wait_for_response)
    return fastapi_endpoint(method=method, label=label, custom_domains=custom_domains, docs=docs,
                            requires_proxy_auth=requires_proxy_auth)


def asgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: Any = None,
    requires_proxy_auth: bool = False,
    wait_for_response: bool = True,
) -> Callable[[Any], _PartialFunction]:
    """Serve the ASGI app this function returns (FastAPI, Starlette, ...): HTTP, streaming,
    server-sent events, WebSockets and lifespan events."""
    _check_parentheses(_warn_parentheses_missing, "asgi_app")
    from nodal.proto import api_pb2

    web = api_pb2.WebEndpoint(kind="asgi", **_web_options("asgi_app", label, custom_domains, requires_proxy_auth,
                                                          wait_for_response))
    return _web_wrapper("asgi_app", web, takes_args=False)


def wsgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: Any = None,
    requires_proxy_auth: bool = False,
    wait_for_response: bool = True,
) -> Callable[[Any], _PartialFunction]:
    """Serve the WSGI app this function returns (Flask, Django, ...)."""
    _check_parentheses(_warn_parentheses_missing, "wsgi_app")
    from nodal.proto import api_pb2

    web = api_pb2.WebEndpoint(kind="wsgi", **_web_options("wsgi_app", label, custom_domains, requires_proxy_auth,
                                                          wait_for_response))
    return _web_wrapper("wsgi_app", web, takes_args=False)


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: Any = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], _PartialFunction]:
    """Serve the HTTP server this function starts in the container, listening on `port`; the
    container is ready once the port accepts connections (within `startup_timeout` seconds)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidError(f"@modal.web_server(port): {port!r} is not a port number (1-65535)")
    if not isinstance(startup_timeout, (int, float)) or not startup_timeout > 0:
        raise InvalidError(f"@modal.web_server(startup_timeout=): must be a positive number, got {startup_timeout!r}")
    from nodal.proto import api_pb2

    web = api_pb2.WebEndpoint(kind="web_server", port=port, startup_timeout=float(startup_timeout),
                              **_web_options("web_server", label, custom_domains, requires_proxy_auth))
    return _web_wrapper("web_server", web, takes_args=False)
