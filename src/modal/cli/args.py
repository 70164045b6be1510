"""Command-line options from a Python signature, for `modal run`.

Each parameter of the entrypoint (or function, or class method) becomes a `--name value`
option: `str`, `int`, `float`, `bytes` (UTF-8), `datetime` (ISO 8601) and `bool`
(`--flag/--no-flag`).
A parameter without a default is required; one with a default is optional and, when it is
not given, left out of the call so the function's own default applies. `*args` collects any
remaining command-line words as strings.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

SUPPORTED = "str, int, float, bool, bytes or datetime"


class DateTimeType(click.ParamType):
    """An ISO 8601 date or datetime (`2024-01-31`, `2024-01-31T12:30:00+00:00`)."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 datetime (e.g. 2024-01-31 or 2024-01-31T12:30:00)", param, ctx
            )


class BytesType(click.ParamType):
    """Text from the command line, passed as UTF-8 bytes."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        return value if isinstance(value, bytes) else str(value).encode()


_CLICK_TYPES: dict[Any, click.ParamType] = {
    str: click.STRING,
    int: click.INT,
    float: click.FLOAT,
    bool: click.BOOL,
    datetime: DateTimeType(),
    bytes: BytesType(),
}
_TYPE_NAMES = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "datetime": datetime,
    "datetime.datetime": datetime,
    "bytes": bytes,
}
VAR_ARGS_DEST = "__modal_var_args"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of the target, as the command line sees it."""

    name: str
    type: type
    required: bool
    default: Any
    kind: inspect._ParameterKind = inspect.Parameter.KEYWORD_ONLY


def _strip_optional(ann: Any) -> Any:
    """`Optional[X]` / `X | None` -> `X`; other unions are returned unchanged."""
    origin = typing.get_origin(ann)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to the raw text
        return dict(getattr(fn, "__annotations__", {}) or {})


def _type_from_text(text: str) -> Any:
    """A string annotation that could not be evaluated: understand the simple spellings."""
    t = text.replace("typing.", "").replace(" ", "")
    if t.startswith("Optional[") and t.endswith("]"):
        t = t[len("Optional[") : -1]
    parts = [p for p in t.split("|") if p != "None"]
    return _TYPE_NAMES.get(parts[0], text) if len(parts) == 1 else text


def _resolve_type(owner: str, name: str, ann: Any, default: Any) -> type:
    if ann is inspect.Parameter.empty:
        if default is not inspect.Parameter.empty and default is not None and type(default) in _CLICK_TYPES:
            return type(default)
        return str
    if isinstance(ann, str):
        ann = _type_from_text(ann)
    ann = _strip_optional(ann)
    if ann is Any:
        return str
    if ann in _CLICK_TYPES:
        return ann
    shown = getattr(ann, "__name__", None) or str(ann)
    raise click.UsageError(
        f"Parameter `{name}` of `{owner}` has the type `{shown}`, which `modal run` cannot read from the "
        f"command line. Supported types: {SUPPORTED}."
    )


def param_specs(fn: Callable[..., Any], *, skip_self: bool = False) -> list[ParamSpec]:
    """The command-line parameters of `fn` (its `self` left out when `skip_self`)."""
    sig = inspect.signature(fn)
    hints = _annotations(fn)
    owner = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    specs: list[ParamSpec] = []
    params = list(sig.parameters.values())
    if (
        skip_self
        and params
        and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ):
        params = params[1:]
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue  # **kwargs: nothing to name on the command line
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            specs.append(ParamSpec(p.name, str, False, (), p.kind))
            continue
        typ = _resolve_type(owner, p.name, hints.get(p.name, p.annotation), p.default)
        required = p.default is inspect.Parameter.empty
        specs.append(ParamSpec(p.name, typ, required, None if required else p.default, p.kind))
    return specs


def option_name(name: str) -> str:
    """`--foo-bar` for the parameter `foo_bar` (`--foo_bar` works too, see `normalize_token`)."""
    return "--" + name.replace("_", "-")


def normalize_token(token: str) -> str:
    """The commands' `token_normalize_func`: option names may be written with underscores."""
    return token.replace("_", "-")


def click_params(specs: list[ParamSpec]) -> list[click.Parameter]:
    out: list[click.Parameter] = []
    for s in specs:
        if s.kind is inspect.Parameter.VAR_POSITIONAL:
            out.append(click.Argument([VAR_ARGS_DEST], nargs=-1, type=click.UNPROCESSED, metavar="[ARGS]..."))
            continue
        # A required option gets no `default` at all: click treats even `default=None` as given.
        extra: dict[str, Any] = (
            {"required": True}
            if s.required
            else {
                "default": bool(s.default) if s.type is bool else s.default,
                "show_default": s.default is not None,
            }
        )
        if s.type is bool:
            n = option_name(s.name)
            out.append(click.Option([f"{n}/--no-{n[2:]}", s.name], is_flag=True, **extra))
        else:
            out.append(click.Option([option_name(s.name), s.name], type=_CLICK_TYPES[s.type], **extra))
    return out


def build_call(
    specs: list[ParamSpec], values: dict[str, Any], given: set[str] | None = None
) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) for the call, from parsed option values.

    Keyword parameters not in `given` (left at their default) are left out, so the callee's
    own default applies; `given=None` passes every value. Positional-only parameters, and
    with `*args` every parameter before it, are passed by position."""
    has_var = any(s.kind is inspect.Parameter.VAR_POSITIONAL for s in specs)
    by_position = {inspect.Parameter.POSITIONAL_ONLY}
    if has_var:
        by_position.add(inspect.Parameter.POSITIONAL_OR_KEYWORD)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for s in specs:
        if s.kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(values.get(VAR_ARGS_DEST, ()) or ())
        elif s.kind in by_position:
            args.append(values[s.name])
        elif given is None or s.required or s.name in given:
            kwargs[s.name] = values[s.name]
    return args, kwargs


def given_params(ctx: click.Context) -> set[str]:
    """The parameters the user actually wrote on the command line (or set through the env)."""
    out = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source not in (
            click.core.ParameterSource.DEFAULT,
            click.core.ParameterSource.DEFAULT_MAP,
        ):
            out.add(name)
    return out
