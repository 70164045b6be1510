"""modal.Sandbox end to end: real sandboxes on the session's real Nodal server."""

from __future__ import annotations

import threading
import time

import pytest

import modal
from modal.exception import InvalidError, NotFoundError, SandboxTerminatedError, SandboxTimeoutError


@pytest.fixture(scope="module")
def sb_app(nodal_server, require_containers):
    return modal.App.lookup("sandbox-tests", create_if_missing=True)


def test_create_wait_returncode_and_stdout(sb_app):
    sb = modal.Sandbox.create("sh", "-c", "echo hello; echo oops >&2; exit 3", app=sb_app)
    assert sb.object_id.startswith("sb-")
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 3
    assert sb.poll() == 3
    assert sb.stdout.read() == "hello\n"
    assert sb.stderr.read() == "oops\n"


def test_idle_sandbox_stays_up_until_terminated(sb_app, wait_until):
    sb = modal.Sandbox.create(app=sb_app)
    assert sb.poll() is None
    assert sb.returncode is None
    sb.terminate()
    with pytest.raises(SandboxTerminatedError):
        sb.wait()
    sb.wait(raise_on_termination=False)
    assert sb.returncode is not None
    sb.terminate()  # a no-op once finished


def test_timeout_raises_sandbox_timeout_error(sb_app):
    sb = modal.Sandbox.create("sleep", "30", app=sb_app, timeout=1)
    started = time.monotonic()
    with pytest.raises(SandboxTimeoutError):
        sb.wait(raise_on_termination=False)
    assert time.monotonic() - started < 10
    assert sb.returncode is not None


def test_stdin_reaches_the_entrypoint(sb_app):
    sb = modal.Sandbox.create("sh", "-c", "while read line; do echo got:$line; done", app=sb_app)
    sb.stdin.write(b"foo\n")
    sb.stdin.write("bar\n")
    sb.stdin.write_eof()
    sb.stdin.drain()
    sb.wait()
    assert sb.stdout.read() == "got:foo\ngot:bar\n"
    assert sb.returncode == 0


def test_stdout_streams_while_running(sb_app):
    sb = modal.Sandbox.create("sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done", app=sb_app)
    chunks = list(sb.stdout)
    assert "".join(chunks) == "line 1\nline 2\nline 3\n"
    sb.wait()


def test_from_id_list_and_tags(sb_app):
    sb = modal.Sandbox.create(app=sb_app)
    try:
        sb.set_tags({"role": "worker", "n": "1"})
        again = modal.Sandbox.from_id(sb.object_id)
        assert again.object_id == sb.object_id
        assert again.poll() is None
        ids = [s.object_id for s in modal.Sandbox.list(app_id=sb_app.app_id)]
        assert sb.object_id in ids
        tagged = [s.object_id for s in modal.Sandbox.list(tags={"role": "worker"})]
        assert tagged == [sb.object_id] or sb.object_id in tagged
        assert sb.object_id not in [s.object_id for s in modal.Sandbox.list(tags={"role": "other"})]
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    assert sb.object_id not in [s.object_id for s in modal.Sandbox.list(app_id=sb_app.app_id)]
    with pytest.raises(NotFoundError):
        modal.Sandbox.from_id("sb-" + "0" * 24)
    with pytest.raises(InvalidError):
        modal.Sandbox.from_id("not-an-id")


def test_image_workdir_env_and_secrets(sb_app):
    image = modal.Image.debian_slim().env({"FROM_IMAGE": "img"})
    sb = modal.Sandbox.create(
        "sh", "-c", "pwd; echo $FROM_IMAGE $FROM_SECRET",
        app=sb_app, image=image, workdir="/srv/work",
        secrets=[modal.Secret.from_dict({"FROM_SECRET": "sec"})],
    )
    sb.wait()
    assert sb.stdout.read() == "/srv/work\nimg sec\n"


def test_volume_is_mounted(sb_app):
    vol = modal.Volume.from_name("sandbox-test-vol", create_if_missing=True)
    sb = modal.Sandbox.create("sh", "-c", "echo data > /vol/f.txt && cat /vol/f.txt", app=sb_app, volumes={"/vol": vol})
    sb.wait()
    assert sb.stdout.read() == "data\n"


def test_bad_arguments_fail_fast(sb_app):
    with pytest.raises(InvalidError, match="app"):
        modal.Sandbox.create("true")
    with pytest.raises(InvalidError, match="strings"):
        modal.Sandbox.create("echo", 3, app=sb_app)
    with pytest.raises(InvalidError, match="timeout"):
        modal.Sandbox.create(app=sb_app, timeout=0)
    with pytest.raises(InvalidError, match="cidr"):
        modal.Sandbox.create(app=sb_app, cidr_allowlist=["not-a-cidr"])
    with pytest.raises(InvalidError, match="port"):
        modal.Sandbox.create(app=sb_app, encrypted_ports=[70000])
    with pytest.raises(InvalidError):
        modal.Sandbox.create(app=sb_app, gpu="NOT-A-GPU")
    with pytest.raises(InvalidError, match="create"):
        modal.Sandbox()


def test_sandboxes_end_with_their_ephemeral_app(nodal_server, require_containers, wait_until):
    app = modal.App("sandbox-ephemeral")
    with app.run():
        sb = modal.Sandbox.create(app=app)
        assert sb.poll() is None
    wait_until(lambda: sb.poll() is not None, timeout=20, what="the sandbox to end with its app")


def test_aio_faces(sb_app):
    import asyncio

    async def main() -> tuple[int | None, str]:
        sb = await modal.Sandbox.create.aio("echo", "async", app=sb_app)
        await sb.wait.aio()
        return sb.returncode, await sb.stdout.read.aio()

    assert asyncio.run(main()) == (0, "async\n")


def test_many_sandboxes_concurrently(sb_app):
    results: list[str] = []

    def one(i: int) -> None:
        sb = modal.Sandbox.create("echo", f"n{i}", app=sb_app)
        sb.wait()
        results.append(sb.stdout.read().strip())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == sorted(f"n{i}" for i in range(8))


def test_function_creates_a_sandbox_in_its_own_app(nodal_server, require_containers):
    from apps.sandbox_fn_app import app, run_in_sandbox

    with app.run():
        assert run_in_sandbox.remote("print(6 * 7)") == "42\n"


def test_gpu_request_that_this_machine_cannot_serve(sb_app):
    from nodal.runtime.gpus import discover_gpus

    if discover_gpus():
        pytest.skip("this machine has GPUs")
    with pytest.raises(InvalidError, match="GPU"):
        modal.Sandbox.create(app=sb_app, gpu="H100")


def test_sandboxes_are_recorded_as_terminated_across_a_server_restart(private_server):
    from modal.client import Client  # noqa: F401 - the private server's client below

    client = private_server.client()
    app = modal.App.lookup("restart-sandboxes", create_if_missing=True, client=client)
    running = modal.Sandbox.create(app=app, client=client)
    done = modal.Sandbox.create("sh", "-c", "exit 5", app=app, client=client)
    done.wait(raise_on_termination=False)
    private_server.restart()
    client = private_server.client()
    again = modal.Sandbox.from_id(running.object_id, client=client)
    assert again.poll() is not None
    with pytest.raises(SandboxTerminatedError, match="Nodal server"):
        again.wait()
    assert modal.Sandbox.from_id(done.object_id, client=client).poll() == 5
    assert [s.object_id for s in modal.Sandbox.list(app_id=app.app_id, client=client)] == []


def test_fifty_sandboxes_alive_at_once(sb_app):
    boxes = []
    try:
        for _ in range(50):
            boxes.append(modal.Sandbox.create(app=sb_app))
        assert len({b.object_id for b in boxes}) == 50
        alive = {s.object_id for s in modal.Sandbox.list(app_id=sb_app.app_id)}
        assert {b.object_id for b in boxes} <= alive
        for b in boxes:
            assert b.exec("cat", "/proc/1/cmdline").stdout.read()  # each answers, in its own pid namespace
    finally:
        for b in boxes:
            b.terminate()


def test_network_file_system_is_shared_with_the_sandbox(sb_app):
    nfs = modal.NetworkFileSystem.from_name("sandbox-test-nfs", create_if_missing=True)
    writer = modal.Sandbox.create("sh", "-c", "echo shared > /shared/note.txt", app=sb_app,
                                  network_file_systems={"/shared": nfs})
    writer.wait()
    reader = modal.Sandbox.create("cat", "/shared/note.txt", app=sb_app, network_file_systems={"/shared": nfs})
    reader.wait()
    assert reader.stdout.read() == "shared\n"


def test_mounts_put_local_files_into_the_sandbox(sb_app, tmp_path):
    import warnings

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "data.txt").write_text("mounted file\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # modal.Mount is deprecated in the reference
        mount = modal.Mount.from_local_dir(tmp_path / "pkg", remote_path="/srv/pkg")
    sb = modal.Sandbox.create("cat", "/srv/pkg/data.txt", app=sb_app, mounts=[mount])
    sb.wait()
    assert sb.stdout.read() == "mounted file\n"
