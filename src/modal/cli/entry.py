"""The `modal` command: `run`, `deploy`, `app …`, `server …`.

Errors users can cause are printed as one line (`Error: …`, exit code 1); usage mistakes as
click usage errors (exit code 2); an exception raised by the user's own code as a traceback
of their code, without the SDK's frames (exit code 1). `MODAL_TRACEBACK=1` shows everything.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any

import click

from modal import __version__
from modal.cli.app_cmds import app_cli
from modal.cli.config_cmds import config_cli
from modal.cli.container_cmds import container_cli
from modal.cli.dict_cmds import dict_cli
from modal.cli.environment_cmds import environment_cli
from modal.cli.gpu_cmds import gpu_cli
from modal.cli.image_cmds import image_cli
from modal.cli.nfs_cmds import nfs_cli
from modal.cli.profile_cmds import profile_cli
from modal.cli.proxy_auth_cmds import proxy_auth_cli
from modal.cli.queue_cmds import queue_cli
from modal.cli.run import deploy, run
from modal.cli.secret_cmds import secret_cli
from modal.cli.serve import serve
from modal.cli.server_cmds import server_cli
from modal.cli.shell import shell
from modal.cli.token_cmds import token_cli
from modal.cli.volume_cmds import volume_cli
from modal.exception import Error, _CliUserExecutionError


def _internal_dirs() -> tuple[str, ...]:
    import asyncio
    import concurrent.futures

    import modal
    import nodal

    mods = (modal, nodal, click, asyncio, concurrent.futures)
    return tuple(str(Path(m.__file__).resolve().parent) + os.sep for m in mods)


def _is_internal(filename: str, internal: tuple[str, ...]) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    try:
        path = str(Path(filename).resolve())
    except OSError:
        return False
    return path.startswith(internal)


def strip_internal_frames(exc: BaseException, _seen: set[int] | None = None) -> BaseException:
    """Drop the frames of the SDK, the CLI and the import machinery from `exc` (and the
    exceptions chained to it), so what is left is the user's code."""
    seen = _seen if _seen is not None else set()
    if id(exc) in seen:
        return exc
    seen.add(id(exc))
    internal = _internal_dirs()
    kept = []
    tb = exc.__traceback__
    while tb is not None:
        if not _is_internal(tb.tb_frame.f_code.co_filename, internal):
            kept.append(tb)
        tb = tb.tb_next
    new_tb: types.TracebackType | None = None
    for t in reversed(kept):
        new_tb = types.TracebackType(new_tb, t.tb_frame, t.tb_lasti, t.tb_lineno)
    exc.__traceback__ = new_tb
    for chained in (exc.__cause__, exc.__context__):
        if chained is not None:
            strip_internal_frames(chained, seen)
    return exc


def _full_tracebacks() -> bool:
    from modal.config import config

    try:
        return bool(config.get("traceback"))
    except Exception:  # noqa: BLE001 - a broken config file must not hide the real error
        return False


def print_user_exception(wrapper: _CliUserExecutionError) -> None:
    exc = wrapper.__cause__ or wrapper
    if not _full_tracebacks():
        exc = strip_internal_frames(exc)
    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()


class ModalGroup(click.Group):
    """The top-level group: turns errors into messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _CliUserExecutionError as wrapper:
            print_user_exception(wrapper)
            ctx.exit(1)
        except Error as exc:
            if _full_tracebacks():
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(1)


@click.group(cls=ModalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modal (Nodal)")
def main() -> None:
    """Nodal: run Modal apps on your own machine.

    Start with `modal run app.py`. The local server starts by itself when needed; see
    `modal server --help`.
    """


main.add_command(run)
main.add_command(deploy)
main.add_command(serve)
main.add_command(app_cli)
main.add_command(container_cli)
main.add_command(shell)
main.add_command(server_cli)
main.add_command(secret_cli)
main.add_command(volume_cli)
main.add_command(nfs_cli)
main.add_command(dict_cli)
main.add_command(queue_cli)
main.add_command(gpu_cli)
main.add_command(environment_cli)
main.add_command(image_cli)
main.add_command(proxy_auth_cli)
main.add_command(token_cli)
main.add_command(profile_cli)
main.add_command(config_cli)


if __name__ == "__main__":
    main()
