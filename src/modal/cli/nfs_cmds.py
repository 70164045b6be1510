"""`modal nfs create | list | ls | put | get | rm | delete`.

Paths inside a network file system are POSIX paths from its root (a leading `/` is optional).
A missing file system, file or directory is a one-line `Error: …` with exit code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath
from typing import Any

import click

from modal.cli._data_objects import create_object, existing, list_objects
from modal.cli.app_cmds import _client, _environment, _print_table, _when
from modal.cli.run import _env_option


@click.group(name="nfs")
def nfs_cli() -> None:
    """Manage network file systems (shared directories mounted into containers)."""


def _nfs(name: str, env: str | None) -> Any:
    from modal.network_file_system import NetworkFileSystem

    return existing(NetworkFileSystem, name, env)


def _display(path: str) -> str:
    return "/" + path.lstrip("/")


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


@nfs_cli.command(name="create")
@click.argument("name")
@_env_option
def create(name: str, env: str | None) -> None:
    """Create a named network file system."""
    from modal.network_file_system import NetworkFileSystem

    create_object(NetworkFileSystem, name, env)
    click.echo(f"Created network file system {name!r}")
    click.echo(f"Use it with: modal.NetworkFileSystem.from_name({name!r})")


@nfs_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_nfs(as_json: bool, env: str | None) -> None:
    """List named network file systems."""
    from nodal.proto import api_pb2

    list_objects(api_pb2.DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM, "Network file systems", env, as_json)


@nfs_cli.command(name="ls")
@click.argument("name")
@click.argument("path", default="/")
@_env_option
def ls(name: str, path: str, env: str | None) -> None:
    """List PATH in a network file system: a directory (default: the root), a file, or a glob."""
    from modal.volume import FileEntryType

    entries = _nfs(name, env).listdir(path)
    if sys.stdout.isatty():
        _print_table(
            f"Directory listing of {_display(path)!r} in {name!r}",
            ["Filename", "Type", "Modified", "Size"],
            [
                [
                    e.path,
                    {FileEntryType.DIRECTORY: "dir", FileEntryType.SYMLINK: "link"}.get(e.type, "file"),
                    _when(e.mtime),
                    _human_size(e.size) if e.type == FileEntryType.FILE else "",
                ]
                for e in entries
            ],
        )
    else:
        for e in entries:
            click.echo(e.path + ("/" if e.type == FileEntryType.DIRECTORY else ""))


@nfs_cli.command(name="put")
@click.argument("name")
@click.argument("local_path", metavar="LOCAL")
@click.argument("remote_path", metavar="[REMOTE]", default="/")
@_env_option
def put(name: str, local_path: str, remote_path: str, env: str | None) -> None:
    """Upload a local file or directory (overwriting what is there).

    A file goes to REMOTE (or into it, when REMOTE ends with '/'; default: the root). A
    directory's contents go under REMOTE."""
    from modal.exception import NotFoundError

    local = Path(local_path)
    if not local.exists():
        raise NotFoundError(f"no local file or directory {local_path!r}")
    nfs = _nfs(name, env)
    if local.is_dir():
        nfs.add_local_dir(local, remote_path)
        click.echo(f"Uploaded directory {local_path!r} to {_display(remote_path)!r} in {name!r}")
        return
    target = remote_path if not (remote_path.endswith("/") or not remote_path.strip("/")) else (
        remote_path.rstrip("/") + "/" + local.name)
    nfs.add_local_file(local, target)
    click.echo(f"Uploaded {local_path!r} to {_display(target)!r} in {name!r}")


@nfs_cli.command(name="get")
@click.argument("name")
@click.argument("remote_path", metavar="REMOTE")
@click.argument("local_path", metavar="[LOCAL|-]", default=".")
@click.option("--force", is_flag=True, help="Overwrite local files that already exist.")
@_env_option
def get(name: str, remote_path: str, local_path: str, force: bool, env: str | None) -> None:
    """Download a file or directory ('-' as LOCAL: a file's contents to stdout)."""
    from modal.exception import AlreadyExistsError, InvalidError
    from modal.network_file_system import NetworkFileSystem
    from modal.volume import FileEntryType

    nfs: NetworkFileSystem = _nfs(name, env)
    remote = remote_path.strip("/")
    entries = nfs.listdir(remote_path)
    is_file = len(entries) == 1 and entries[0].type == FileEntryType.FILE and entries[0].path == remote
    if local_path == "-":
        if not is_file:
            raise InvalidError(f"{_display(remote_path)!r} is a directory: give a local path, not '-'")
        for chunk in nfs.read_file(remote):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    local = Path(local_path)
    if is_file:
        plan = [(remote, local / PurePosixPath(remote).name if local.is_dir() else local)]
    else:
        pattern = f"{remote}/**" if remote else "**"
        files = [e.path for e in nfs.listdir(pattern) if e.type == FileEntryType.FILE]
        top = PurePosixPath(remote).name
        plan = [(p, local / top / p[len(remote) + 1:] if remote else local / p) for p in files]
    if not force:
        for _src, dest in plan:
            if dest.exists():
                raise AlreadyExistsError(f"local file {str(dest)!r} already exists: pass --force to overwrite")
    for src, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            for chunk in nfs.read_file(src):
                f.write(chunk)
    click.echo(f"Downloaded {len(plan)} file(s) from {_display(remote)!r} to {str(local)!r}", err=True)


@nfs_cli.command(name="rm")
@click.argument("name")
@click.argument("remote_path", metavar="PATH")
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and everything under it.")
@_env_option
def rm(name: str, remote_path: str, recursive: bool, env: str | None) -> None:
    """Remove a file (or an empty directory; with -r, any directory) from a network file system."""
    _nfs(name, env).remove_file(remote_path, recursive=recursive)
    click.echo(f"Removed {_display(remote_path)!r} from {name!r}")


@nfs_cli.command(name="delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def delete(name: str, yes: bool, env: str | None) -> None:
    """Delete a named network file system and every file in it."""
    from modal.network_file_system import NetworkFileSystem

    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete network file system {name!r} and all its files? This cannot be undone.", abort=True)
    NetworkFileSystem.delete(name, environment_name=_environment(env) or None, client=_client())
    click.echo(f"Deleted network file system {name!r}")
