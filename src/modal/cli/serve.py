"""`modal serve app.py`: run an app's web endpoints as an ephemeral `-dev` app, and swap in the
new code each time a file under the app's directory changes.

Each generation is an ephemeral app of the same name, so the endpoints keep their `-dev` URLs:
the gateway routes a label to the newest live app. On a change the new generation is started
first (new requests go to it, waiting for its cold containers), then the old one is stopped
once its in-flight and waiting requests are done, so no request is dropped. Files are watched
with watchfiles; modules imported from the app's directory are re-imported with the app.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click

from modal.cli.import_refs import ImportRef, import_file_or_module, parse_import_ref, resolve_app
from modal.cli.run import _env_option

DRAIN_DEADLINE = 150.0  # seconds an old generation may take to finish its requests (the request limit)
DRAIN_POLL = 0.1


def _watched_dir(ref: ImportRef) -> Path:
    if ref.is_module:
        import importlib.util

        spec = importlib.util.find_spec(ref.file_or_module)
        if spec is None or spec.origin is None:
            raise click.UsageError(f"No module named {ref.file_or_module!r}")
        return Path(spec.origin).resolve().parent
    return Path(ref.file_or_module).expanduser().resolve().parent


def _forget_modules_under(directory: Path) -> None:
    """Drop the user's own modules (those under `directory`) so the next import reads them anew."""
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(directory) and name != "__main__":
            del sys.modules[name]


class _Generation:
    """One running version of the app."""

    def __init__(self, ref: ImportRef, env: str | None) -> None:
        module = import_file_or_module(ref)
        self.app = resolve_app(module, ref.object_path, ref.file_or_module)
        if not self.app.name:  # the URL is made from the name: keep it the same across reloads
            self.app._name = Path(ref.file_or_module).stem.replace("_", "-")
        self._ctx = self.app.run(environment_name=env or None)
        self._ctx.__enter__()

    def web_function_ids(self) -> list[str]:
        return [reg.function._function_id for reg in self.app._registered.values()
                if reg.web_endpoints and reg.function._function_id]

    def drain(self) -> None:
        """Wait (up to DRAIN_DEADLINE) until no web request runs or waits in this generation."""
        from modal._utils.async_utils import run_sync
        from nodal.proto import api_pb2

        client = self.app._client
        if client is None:
            return
        deadline = time.monotonic() + DRAIN_DEADLINE
        for fid in self.web_function_ids():
            while time.monotonic() < deadline:
                stats = run_sync(client.stub.FunctionGetStats(api_pb2.FunctionGetStatsRequest(function_id=fid)))
                if not stats.backlog and not stats.num_active_runners:
                    break
                time.sleep(DRAIN_POLL)  # polling the server, with a deadline

    def stop(self) -> None:
        self._ctx.__exit__(None, None, None)


@click.command(name="serve")
@click.argument("app_ref", metavar="APP_REF")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop serving after this many seconds (default: until Ctrl-C).")
@click.option("-m", "m", is_flag=True, help="Interpret APP_REF as a Python module path (pkg.mod::app).")
@_env_option
def serve(app_ref: str, timeout: float | None, m: bool, env: str | None) -> None:
    """Serve an app's web endpoints, reloading when its files change.

    APP_REF is `file.py`, `file.py::app_variable` or (with -m) `package.module[::app_variable]`.
    The endpoints get `-dev` URLs; Ctrl-C (or --timeout) stops the app.
    """
    import watchfiles

    from modal.output import enable_output

    if timeout is not None and timeout <= 0:
        raise click.BadParameter("must be a positive number of seconds", param_hint="--timeout")
    ref = parse_import_ref(app_ref, force_module=m)
    directory = _watched_dir(ref)
    stop = threading.Event()
    if timeout is not None:
        timer = threading.Timer(timeout, stop.set)
        timer.daemon = True
        timer.start()
    with enable_output():
        current = _Generation(ref, env)
        click.echo(f"Serving {current.app.name}; watching {directory} for changes (Ctrl-C to stop).", err=True)
        try:
            for changes in watchfiles.watch(directory, stop_event=stop, watch_filter=watchfiles.PythonFilter(),
                                            rust_timeout=500, yield_on_timeout=False, raise_interrupt=True):
                names = ", ".join(sorted({Path(p).name for _, p in changes}))
                click.echo(f"Change detected in {names}: reloading {current.app.name}", err=True)
                _forget_modules_under(directory)
                try:
                    fresh = _Generation(ref, env)
                except Exception as exc:  # noqa: BLE001 - a broken edit keeps the old version serving
                    cause = exc.__cause__ or exc  # the user's own error, not the import wrapper
                    click.secho(f"Reload failed, still serving the previous version: {cause!r}", fg="red", err=True)
                    continue
                old, current = current, fresh
                old.drain()
                old.stop()
        except KeyboardInterrupt:
            pass
        finally:
            current.stop()
    click.echo("Stopped serving.", err=True)
