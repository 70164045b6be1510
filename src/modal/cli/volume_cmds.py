"""`modal volume create | list | ls | put | get | rm | cp | rename | delete`.

Paths inside a volume are POSIX paths from its root (a leading `/` is optional). A missing
volume, file or directory is a one-line `Error: …` with exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import click

from modal.cli.app_cmds import _client, _environment, _iso, _print_json, _print_table, _rpc, _when
from modal.cli.run import _env_option


@click.group(name="volume")
def volume_cli() -> None:
    """Manage named volumes (versioned file trees mounted into containers)."""


@contextmanager
def _volume_errors() -> Iterator[None]:
    """Local-side file errors (FileNotFoundError and kin) as one-line CLI errors."""
    from modal.exception import InvalidError, NotFoundError

    try:
        yield
    except FileNotFoundError as exc:
        raise NotFoundError(str(exc)) from None
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise InvalidError(str(exc)) from None


def _volume(name: str, env: str | None) -> Any:
    """A hydrated handle to an existing volume (NotFoundError when there is none)."""
    from modal.volume import Volume

    vol = Volume.from_name(name, environment_name=_environment(env) or None, client=_client())
    vol.hydrate()
    return vol


def _remote_display(path: str) -> str:
    return "/" + path.lstrip("/")


@volume_cli.command(name="create")
@click.argument("name")
@_env_option
def create(name: str, env: str | None) -> None:
    """Create a named volume."""
    from modal.exception import AlreadyExistsError, NotFoundError
    from modal.volume import Volume

    environment = _environment(env) or None
    try:
        _volume(name, env)
    except NotFoundError:
        pass
    else:
        raise AlreadyExistsError(f"Volume {name!r} already exists")
    Volume.from_name(name, environment_name=environment, create_if_missing=True, client=_client()).hydrate()
    click.echo(f"Created volume {name!r}")
    click.echo(f"Use it with: modal.Volume.from_name({name!r})")


@volume_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_volumes(as_json: bool, env: str | None) -> None:
    """List named volumes."""
    from nodal.proto import api_pb2

    client = _client()
    objs = list(
        _rpc(
            client.stub.DataObjectList(
                api_pb2.DataObjectListRequest(
                    kind=api_pb2.DATA_OBJECT_KIND_VOLUME, environment_name=_environment(env)
                )
            )
        ).objects
    )
    if as_json:
        _print_json(
            [{"name": o.name, "environment": o.environment_name, "created_at": _iso(o.created_at)} for o in objs]
        )
        return
    _print_table("Volumes", ["Name", "Created at"], [[o.name, _when(o.created_at)] for o in objs])


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable


@volume_cli.command(name="ls")
@click.argument("name")
@click.argument("path", default="/")
@_env_option
def ls(name: str, path: str, env: str | None) -> None:
    """List the files and directories at PATH in a volume (default: its root)."""
    from modal.volume import FileEntryType

    vol = _volume(name, env)
    with _volume_errors():
        entries = vol.listdir(path)
    if sys.stdout.isatty():
        _print_table(
            f"Directory listing of {_remote_display(path)!r} in {name!r}",
            ["Filename", "Type", "Modified", "Size"],
            [
                [
                    e.path,
                    "dir" if e.type == FileEntryType.DIRECTORY else "file",
                    _when(e.mtime),
                    "" if e.type == FileEntryType.DIRECTORY else _human_size(e.size),
                ]
                for e in entries
            ],
        )
    else:
        for e in entries:
            click.echo(e.path + ("/" if e.type == FileEntryType.DIRECTORY else ""))


@volume_cli.command(name="put")
@click.argument("name")
@click.argument("local_path", metavar="LOCAL")
@click.argument("remote_path", metavar="[REMOTE]", default="/")
@click.option("-f", "--force", is_flag=True, help="Overwrite files that already exist in the volume.")
@_env_option
def put(name: str, local_path: str, remote_path: str, force: bool, env: str | None) -> None:
    """Upload a local file or directory to a volume.

    A file goes to REMOTE (or into it, when REMOTE ends with '/'; default: the root). A
    directory's contents go under REMOTE."""
    from modal.exception import NotFoundError

    local = Path(local_path)
    if not local.exists():
        raise NotFoundError(f"no local file or directory {local_path!r}")
    vol = _volume(name, env)
    with _volume_errors():
        if local.is_dir():
            with vol.batch_upload(force=force) as batch:
                batch.put_directory(local, remote_path)
            click.echo(f"Uploaded directory {local_path!r} to {_remote_display(remote_path)!r} in {name!r}")
        else:
            target = remote_path
            if target.endswith("/") or not target.strip("/"):
                target = target.rstrip("/") + "/" + local.name
            with vol.batch_upload(force=force) as batch:
                batch.put_file(local, target)
            click.echo(f"Uploaded {local_path!r} to {_remote_display(target)!r} in {name!r}")


def _write_file(vol: Any, remote: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        vol.read_file_into_fileobj(remote, f)


@volume_cli.command(name="get")
@click.argument("name")
@click.argument("remote_path", metavar="REMOTE")
@click.argument("local_path", metavar="[LOCAL|-]", default=".")
@click.option("--force", is_flag=True, help="Overwrite local files that already exist.")
@_env_option
def get(name: str, remote_path: str, local_path: str, force: bool, env: str | None) -> None:
    """Download a file or directory from a volume ('-' as LOCAL: a file's contents to stdout).

    A file goes to LOCAL (or into it, when LOCAL is a directory; default: here). A directory
    is recreated inside LOCAL with everything under it."""
    from modal.exception import AlreadyExistsError, InvalidError
    from modal.volume import FileEntryType, _norm

    vol = _volume(name, env)
    with _volume_errors():
        remote = _norm(remote_path)
        entries = vol.listdir(remote_path, recursive=True)
        is_file = len(entries) == 1 and entries[0].type == FileEntryType.FILE and entries[0].path == remote
        if local_path == "-":
            if not is_file:
                raise InvalidError(f"{_remote_display(remote_path)!r} is a directory: give a local path, not '-'")
            out = sys.stdout.buffer
            vol.read_file_into_fileobj(remote, out)
            out.flush()
            return
        local = Path(local_path)
        if is_file:
            dest = local / PurePosixPath(remote).name if local.is_dir() else local
            if dest.exists() and not force:
                raise AlreadyExistsError(f"local file {str(dest)!r} already exists: pass --force to overwrite")
            _write_file(vol, remote, dest)
            click.echo(f"Downloaded {_remote_display(remote)!r} to {str(dest)!r}", err=True)
            return
        # A directory: recreate it (named as in the volume) inside LOCAL; the root's contents go into LOCAL.
        parent = str(PurePosixPath(remote).parent) if remote else ""
        parent = "" if parent == "." else parent
        files = [e for e in entries if e.type == FileEntryType.FILE]
        plan = [(e.path, local / (e.path[len(parent) + 1:] if parent else e.path)) for e in files]
        if not force:
            for _src, dest in plan:
                if dest.exists():
                    raise AlreadyExistsError(f"local file {str(dest)!r} already exists: pass --force to overwrite")
        for src, dest in plan:
            _write_file(vol, src, dest)
        click.echo(f"Downloaded {len(plan)} file(s) from {_remote_display(remote)!r} to {str(local)!r}", err=True)


@volume_cli.command(name="rm")
@click.argument("name")
@click.argument("remote_path", metavar="PATH")
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and everything under it.")
@_env_option
def rm(name: str, remote_path: str, recursive: bool, env: str | None) -> None:
    """Remove a file (or, with -r, a directory) from a volume."""
    vol = _volume(name, env)
    with _volume_errors():
        vol.remove_file(remote_path, recursive=recursive)
    click.echo(f"Removed {_remote_display(remote_path)!r} from {name!r}")


@volume_cli.command(name="cp")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, metavar="SRC... DST")
@click.option("-r", "--recursive", is_flag=True, help="Copy directories too.")
@_env_option
def cp(name: str, paths: tuple[str, ...], recursive: bool, env: str | None) -> None:
    """Copy files (or, with -r, directories) within a volume to DST.

    With several sources, or when DST ends with '/' or is a directory, they go into DST."""
    if len(paths) < 2:
        raise click.UsageError("give at least one SRC and a DST")
    *srcs, dst = paths
    vol = _volume(name, env)
    with _volume_errors():
        vol.copy_files(list(srcs), dst, recursive=recursive)
    click.echo(f"Copied {', '.join(map(repr, srcs))} to {_remote_display(dst)!r} in {name!r}")


@volume_cli.command(name="delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def delete(name: str, yes: bool, env: str | None) -> None:
    """Delete a named volume and everything in it."""
    from modal.volume import Volume

    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete volume {name!r} and all its files? This cannot be undone.", abort=True)
    Volume.delete(name, environment_name=_environment(env) or None, client=_client())
    click.echo(f"Deleted volume {name!r}")


@volume_cli.command(name="rename")
@click.argument("old_name")
@click.argument("new_name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def rename(old_name: str, new_name: str, yes: bool, env: str | None) -> None:
    """Rename a named volume (apps that look it up by its old name no longer find it)."""
    from modal.volume import Volume

    if not yes and sys.stdin.isatty():
        click.confirm(f"Rename volume {old_name!r} to {new_name!r}?", abort=True)
    Volume.rename(old_name, new_name, environment_name=_environment(env) or None, client=_client())
    click.echo(f"Renamed volume {old_name!r} to {new_name!r}")
