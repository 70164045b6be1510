"""`modal run` and `modal deploy`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
import time
from typing import Any

import click

from modal.cli import args as cli_args
from modal.cli.import_refs import (
    Runnable,
    import_file_or_module,
    parse_import_ref,
    resolve_app,
    resolve_runnable,
)
from modal.exception import _CliUserExecutionError


def _set_environment(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`-e/--env`: also the default environment for everything the user's code looks up."""
    if value:
        os.environ["MODAL_ENVIRONMENT"] = value
    return value


def _env_option(f: Any) -> Any:
    return click.option(
        "-e",
        "--env",
        default=None,
        is_eager=True,
        callback=_set_environment,
        metavar="ENV",
        help='Environment to use (default: the `environment` config, else "main").',
    )(f)


_AFTER_REF = "after_ref_"


def _run_flags(prefix: str = "") -> list[click.Option]:
    """The options of `modal run`. Made anew for each target's command too (named with a prefix),
    so that they also work after FUNC_REF where they do not clash with the target's own options."""
    return [
        click.Option(
            ["-d", "--detach", prefix + "detach"],
            is_flag=True,
            help="Keep the app running after this command exits (or is interrupted).",
        ),
        click.Option(
            ["-q", "--quiet", prefix + "quiet"], is_flag=True, help="Don't show progress or the app's logs."
        ),
        click.Option(
            ["-i", "--interactive", prefix + "interactive"],
            is_flag=True,
            help="Run the app in interactive mode.",
        ),
        click.Option(
            ["--write-result", prefix + "write_result"],
            metavar="PATH",
            default=None,
            help="Write the function's return value (str or bytes) to PATH instead of printing it.",
        ),
        click.Option(
            ["-e", "--env", prefix + "env"],
            default=None,
            is_eager=True,
            callback=_set_environment,
            metavar="ENV",
            help='Environment to use (default: the `environment` config, else "main").',
        ),
    ]


def _output(quiet: bool) -> Any:
    if quiet:
        return contextlib.nullcontext()
    import modal

    return modal.enable_output()


def _source_file(fn: Any) -> str:
    try:
        return inspect.getsourcefile(fn) or "<unknown>"
    except TypeError:
        return "<unknown>"


# ---------------------------------------------------------------- modal run


def _class_param_specs(runnable: Runnable) -> list[cli_args.ParamSpec]:
    """The `modal.parameter()` fields of a class, as options for `modal run file.py::Cls.method`."""
    from modal.cls import _MISSING, class_parameters

    user_cls = getattr(runnable.target, "_user_cls", None)
    if user_cls is None:
        return []
    specs = []
    for name, (typ, decl) in class_parameters(user_cls).items():
        if not decl.init:
            continue
        required = decl.default is _MISSING
        specs.append(cli_args.ParamSpec(name, typ, required, None if required else decl.default))
    return specs


def _write_result(path: str, result: Any) -> None:
    if isinstance(result, bytes):
        with open(path, "wb") as f:
            f.write(result)
    elif isinstance(result, str):
        with open(path, "w") as f:
            f.write(result)
    else:
        raise click.UsageError(
            f"--write-result needs the function to return str or bytes; it returned {type(result).__name__}"
        )


def _print_result(value: Any) -> None:
    if value is not None:
        click.echo(value if isinstance(value, (str, bytes)) else repr(value))


def _call(
    runnable: Runnable,
    call_args: list[Any],
    call_kwargs: dict[str, Any],
    cls_kwargs: dict[str, Any],
    write_result: str | None,
) -> None:
    """Call the target with the app running. Whatever the user's code raises comes back wrapped in
    `_CliUserExecutionError`, so the CLI prints it as a traceback of their code."""
    source = _source_file(runnable.raw_f)
    if runnable.kind == "local entrypoint":
        try:
            result = runnable.raw_f(*call_args, **call_kwargs)
            if inspect.iscoroutine(result):  # an async entrypoint
                asyncio.run(result)
        except Exception as exc:
            raise _CliUserExecutionError(source) from exc
        return
    if runnable.kind == "class method":
        handle = getattr(runnable.target(**cls_kwargs), runnable.method)
    else:
        handle = runnable.target
    if runnable.is_generator and write_result:
        raise click.UsageError("--write-result does not apply to generator functions")
    try:
        if runnable.is_generator:
            for item in handle.remote_gen(*call_args, **call_kwargs):
                _print_result(item)
            return
        result = handle.remote(*call_args, **call_kwargs)
    except Exception as exc:
        raise _CliUserExecutionError(source) from exc
    if write_result:
        _write_result(write_result, result)
    else:
        _print_result(result)


def _command_for(runnable: Runnable, source: str) -> click.Command:
    """A click command whose options are the target's parameters (and its class's, for methods)."""
    method_specs = cli_args.param_specs(runnable.raw_f, skip_self=runnable.kind == "class method")
    cls_specs = _class_param_specs(runnable) if runnable.kind == "class method" else []
    clash = {s.name for s in method_specs} & {s.name for s in cls_specs}
    if clash:
        raise click.UsageError(
            f"{runnable.name}: {', '.join(sorted(clash))} is both a class parameter and a method parameter; "
            "rename one to run it from the command line"
        )

    taken = {cli_args.option_name(s.name) for s in method_specs + cls_specs}
    late_flags = [f for f in _run_flags(_AFTER_REF) if not set(f.opts) & taken]
    for f in late_flags:
        f.hidden = True

    @click.pass_context
    def callback(ctx: click.Context, **values: Any) -> None:
        opts = dict(ctx.parent.params) if ctx.parent is not None else {}
        given = cli_args.given_params(ctx)
        for name in given:
            if name.startswith(_AFTER_REF):  # `modal run app.py --detach`: as if written before app.py
                opts[name[len(_AFTER_REF) :]] = values[name]
        call_args, call_kwargs = cli_args.build_call(method_specs, values, given)
        _, cls_kwargs = cli_args.build_call(cls_specs, values, given)
        detach = bool(opts.get("detach"))
        run_ctx = runnable.app.run(
            detach=detach, interactive=bool(opts.get("interactive")), environment_name=opts.get("env") or None
        )
        with _output(bool(opts.get("quiet"))), run_ctx as app:
            _call(runnable, call_args, call_kwargs, cls_kwargs, opts.get("write_result"))
            app_id = getattr(app, "app_id", None)
        if detach and app_id and not opts.get("quiet"):
            click.echo(f"The app keeps running, detached. Stop it with: modal app stop {app_id}", err=True)

    doc = inspect.getdoc(runnable.raw_f) or f"Run {runnable.name} ({runnable.kind}) of {source}."
    return click.Command(
        name=f"{source}::{runnable.name}",
        params=cli_args.click_params(method_specs + cls_specs) + late_flags,
        callback=callback,
        help=doc,
        short_help=doc.splitlines()[0] if doc else None,
        context_settings={"token_normalize_func": cli_args.normalize_token},
    )


class RunGroup(click.Group):
    """`modal run REF [ARGS]`: the REF is imported when the command line is parsed, and its
    target's signature becomes the options that follow it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return []

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        ref = parse_import_ref(cmd_name, force_module=bool(ctx.params.get("m")))
        module = import_file_or_module(ref)
        runnable = resolve_runnable(module, ref.object_path, ref.file_or_module)
        return _command_for(runnable, ref.file_or_module)


@click.group(
    cls=RunGroup,
    name="run",
    subcommand_metavar="FUNC_REF [ARGS]...",
    params=[
        *_run_flags(),
        click.Option(
            ["-m", "m"], is_flag=True, help="Interpret FUNC_REF as a Python module path (pkg.mod::name)."
        ),
    ],
)
def run(**_: Any) -> None:
    """Run a function or local entrypoint of an app, with the app running for the duration.

    FUNC_REF is `file.py`, `file.py::name` or (with -m) `package.module::name`, where name is a
    local entrypoint, a function or `Class.method` (optionally prefixed by the app's variable
    name, e.g. `app.main`). Without a name: the file's only local entrypoint, else its only
    function. The target's parameters are passed as options: `modal run app.py --n 3 --flag`.
    """


# ---------------------------------------------------------------- modal deploy


def _deployed_version(app_id: str) -> int | None:
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal.proto import api_pb2

    try:
        client = Client.from_env()
        resp = run_sync(client.stub.AppHistory(api_pb2.AppHistoryRequest(app_id=app_id)))
    except Exception:  # noqa: BLE001 - the version is a nicety in the summary
        return None
    for info in resp.versions:
        if info.app_id == app_id:
            return info.version
    return None


@click.command(name="deploy")
@click.argument("app_ref", metavar="APP_REF")
@click.option("--name", default=None, help="Name of the deployment (default: the App's name).")
@click.option("--tag", default="", help="Tag the deployed version.")
@click.option("-m", "m", is_flag=True, help="Interpret APP_REF as a Python module path (pkg.mod::app).")
@_env_option
def deploy(app_ref: str, name: str | None, tag: str, m: bool, env: str | None) -> None:
    """Deploy an app: a new named version that keeps running after this command.

    APP_REF is `file.py`, `file.py::app_variable` or (with -m) `package.module[::app_variable]`.
    """
    from modal.runner import deploy_app

    ref = parse_import_ref(app_ref, force_module=m)
    module = import_file_or_module(ref)
    app = resolve_app(module, ref.object_path, ref.file_or_module)
    deploy_name = name or app.name
    if not deploy_name:
        raise click.UsageError(
            'The app has no name: give it one (modal.App("my-app")) or pass --name to modal deploy'
        )
    started = time.monotonic()
    with _output(False):
        result = deploy_app(app, name=deploy_name, environment_name=env or None, tag=tag)
    elapsed = time.monotonic() - started
    version = getattr(result, "version", None) or _deployed_version(result.app_id)
    for warning in getattr(result, "warnings", None) or ():
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    vtext = f"v{version}" if version else "a new version"
    if sys.stdout.isatty():
        click.echo(click.style("✓", fg="green") + f" App deployed in {elapsed:.2f}s! 🎉")
    else:
        click.echo(f"App deployed in {elapsed:.2f}s!")
    click.echo(f"App:     {deploy_name} ({vtext}{', tag ' + tag if tag else ''})")
    click.echo(f"App ID:  {result.app_id}")
    click.echo(f"Logs:    modal app logs {deploy_name}")
