"""`modal shell`: an interactive shell in a new container (a function's image, volumes and
secrets, or any image), or in a running container or sandbox."""

from __future__ import annotations

import sys
from typing import Any

import click

from modal.exception import InvalidError

DEFAULT_CMD = "/bin/bash"


def _image_from_option(image: str) -> Any:
    from modal.image import Image

    if image.startswith("im-"):
        return Image.from_id(image)
    return Image.from_registry(image)


def _options_from_ref(ref: str) -> tuple[Any, list, dict, dict]:
    """(image, secrets, volumes, network file systems) of the function `file.py[::fn]` names; the
    image also carries the file itself at /root, as the function's containers do."""
    from modal.cli.import_refs import import_file_or_module, parse_import_ref, resolve_runnable

    import_ref = parse_import_ref(ref)
    module = import_file_or_module(import_ref)
    runnable = resolve_runnable(module, import_ref.object_path, import_ref.file_or_module)
    app = runnable.app
    registered = getattr(app, "_registered", {})
    tag = runnable.name.split(".")[0]
    reg = registered.get(tag)
    if reg is None:
        raise click.UsageError(f"{ref} names a {runnable.kind}; `modal shell` needs a function or class")
    opts = reg.options
    image = opts.image
    if not import_ref.is_module:
        from pathlib import Path

        from modal.image import Image

        source = Path(import_ref.file_or_module).resolve()
        image = (image or Image.debian_slim()).add_local_file(source, f"/root/{source.name}")
    return image, list(opts.secrets), dict(opts.volumes), dict(opts.network_file_systems or {})


def _shell_command(cmd: str | None) -> list[str]:
    if cmd is None:
        return [DEFAULT_CMD]
    return ["/bin/sh", "-c", cmd]


def run_shell_in_sandbox(
    command: list[str], *, image: Any = None, secrets: list | None = None, volumes: dict | None = None,
    app_name: str = "modal-shell", **create_kwargs: Any,
) -> int:
    """Start a sandbox, run `command` on a PTY attached to this terminal, end the sandbox; the exit code."""
    from modal._terminal import run_attached
    from modal.app import App
    from modal.sandbox import Sandbox
    from nodal.proto import api_pb2

    app = App(app_name)
    with app.run():
        sb = Sandbox.create(app=app, image=image, secrets=secrets or [], volumes=volumes or {}, **create_kwargs)
        try:
            if command == [DEFAULT_CMD]:  # images without bash get sh
                probe = sb.exec("sh", "-c", f"test -x {DEFAULT_CMD}")
                if probe.wait() != 0:
                    command = ["/bin/sh"]
            req = api_pb2.ProcessStreamRequest(exec=api_pb2.ProcessExec(sandbox_id=sb.object_id, command=command))
            return run_attached(req, sb._client)
        finally:
            sb.terminate()


def exec_attached(container_id: str, command: list[str], pty: bool = True) -> int:
    """Run `command` in a running container or sandbox, attached to this terminal; the exit code."""
    from modal._terminal import run_attached
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    client = run_sync(_default_client())
    target = {"sandbox_id": container_id} if container_id.startswith("sb-") else {"container_id": container_id}
    req = api_pb2.ProcessStreamRequest(exec=api_pb2.ProcessExec(command=command, **target))
    if pty:
        return run_attached(req, client)
    from modal._terminal import attach_channel
    from modal.io_streams import _ProcessChannel

    async def go() -> int:
        channel = _ProcessChannel(client, req)
        await channel.start()
        return await attach_channel(channel, sys.stdin.fileno(), sys.stdout.fileno())

    return run_sync(go())


@click.command(name="shell")
@click.argument("ref", required=False)
@click.option("--cmd", "-c", default=None, help="Command to run instead of an interactive shell (via /bin/sh -c).")
@click.option("--image", default=None, help="Image for the shell: a registry tag, or an image id (im-...).")
@click.option("--cpu", type=float, default=None, help="CPU cores to request.")
@click.option("--memory", type=int, default=None, help="Memory to request, in MiB.")
@click.option("--gpu", default=None, help="GPU to request, e.g. H100 or A10G:2.")
@click.option("--add-python", default=None, help="(accepted for compatibility; images from --image keep their Python)")
def shell(ref: str | None, cmd: str | None, image: str | None, cpu: float | None, memory: int | None,
          gpu: str | None, add_python: str | None) -> None:
    """Run a shell in a new container, or in a running one.

    REF may be `file.py[::function]` (the function's image, volumes and secrets), a container
    or sandbox id from `modal container list`, or left out (a Debian image, or --image).
    """
    command = _shell_command(cmd)
    if ref and (ref.startswith("ta-") or ref.startswith("sb-")):
        if image:
            raise click.UsageError("--image cannot be combined with a running container id")
        sys.exit(exec_attached(ref, command if cmd else ["/bin/sh", "-c", f"exec {DEFAULT_CMD} || exec /bin/sh"]))
    img, secrets, volumes, nfs = (None, [], {}, {})
    if ref:
        img, secrets, volumes, nfs = _options_from_ref(ref)
    if image:
        img = _image_from_option(image)
    kwargs: dict[str, Any] = {"network_file_systems": nfs} if nfs else {}
    if cpu is not None:
        kwargs["cpu"] = cpu
    if memory is not None:
        kwargs["memory"] = memory
    if gpu is not None:
        kwargs["gpu"] = gpu
    try:
        code = run_shell_in_sandbox(command, image=img, secrets=secrets, volumes=volumes, **kwargs)
    except InvalidError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)
