"""Apps over their life: deploy, server restarts, durable spawns, logs, stopping.

The restart tests use a server of their own (`private_server`): the session's apps keep
running on the session server meanwhile.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import modal
from modal._utils.async_utils import run_sync
from modal.client import _default_client
from modal.runner import deploy_app
from nodal.proto import api_pb2

DEPLOYED = "nodal-test-deploy"


def _history(client) -> list:
    resp = run_sync(client.stub.AppHistory(api_pb2.AppHistoryRequest(name=DEPLOYED)))
    return sorted(resp.versions, key=lambda v: v.version)


def test_deploy_survives_restart_and_serves_other_processes(private_server):
    from apps.lifecycle_app import add_one, app

    client = private_server.client()
    first = deploy_app(app, client=client)
    assert add_one.remote(1) == 2
    assert app.deploy(client=client) is app  # the method form deploys too
    second_app_id = app.app_id
    assert second_app_id != first.app_id
    newest_function_id = add_one.object_id

    versions = _history(client)
    assert [(v.version, v.app_id) for v in versions] == [(1, first.app_id), (2, second_app_id)]
    assert [v.state for v in versions] == [api_pb2.APP_STATE_STOPPED, api_pb2.APP_STATE_DEPLOYED]

    private_server.restart()

    client = private_server.client()
    assert [v.state for v in _history(client)] == [api_pb2.APP_STATE_STOPPED, api_pb2.APP_STATE_DEPLOYED]
    looked_up = modal.Function.from_name(DEPLOYED, "add_one", client=client)
    assert looked_up.remote(10) == 11
    assert looked_up.object_id == newest_function_id  # only the newest version is live

    code = (
        "import modal\n"
        f"print(modal.Function.from_name({DEPLOYED!r}, 'add_one').remote(41))\n"
        f"Greeter = modal.Cls.from_name({DEPLOYED!r}, 'Greeter')\n"
        "print(Greeter(greeting='hi').greet.remote('bob'))\n"
        "print(Greeter().greet.remote('ann'))\n"
    )
    proc = private_server.python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["42", "hi, bob", "hello, ann"]


def test_spawned_call_survives_restart(private_server):
    from apps.lifecycle_app import Greeter, app, slow_add

    client = private_server.client()
    deploy_app(app, client=client)
    call = slow_add.spawn(1, 1.5)
    method_call = Greeter(greeting="yo").greet.spawn("max")
    assert private_server.restart()  # the call is still running (1.5 s) when the server stops

    client = private_server.client()
    result = modal.FunctionCall.from_id(call.object_id, client=client).get(timeout=60)
    assert result["value"] == 2
    assert modal.FunctionCall.from_id(method_call.object_id, client=client).get(timeout=60) == "yo, max"


def test_spawned_call_result_survives_restart(private_server):
    from apps.lifecycle_app import app, slow_add

    client = private_server.client()
    deploy_app(app, client=client)
    call = slow_add.spawn(5, 0)
    assert call.get(timeout=60)["value"] == 6
    private_server.restart()

    handle = modal.FunctionCall.from_id(call.object_id, client=private_server.client())
    assert handle.get(timeout=0)["value"] == 6  # kept, not recomputed


def test_min_containers_of_a_deployed_app_come_back_after_restart(
    private_server, host_containers, wait_until
):
    from apps.lifecycle_app import app

    deploy_app(app, client=private_server.client())
    private_server.restart()

    def spare(pid: int) -> bool:  # a pre-started container of the image (nodal.server.spares)
        with contextlib.suppress(OSError):
            return b"NODAL_SPARE=1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return False

    def warm_containers() -> list:  # looked at from the host: asking the server would start the pool
        scratch = private_server.home / "containers"
        return [d.name for d in scratch.iterdir()
                if (pids := host_containers.pids(d.name)) and not any(spare(p) for p in pids)]

    (task_id,) = wait_until(warm_containers, 30, "a warm container after the restart")
    warm = modal.Function.from_name(DEPLOYED, "always_warm", client=private_server.client())
    assert warm.remote() == task_id


def test_deployed_app_in_another_process_after_stop_is_not_found(private_server):
    from apps.lifecycle_app import app

    client = private_server.client()
    deploy_app(app, client=client)
    run_sync(client.stub.AppStop(api_pb2.AppStopRequest(name=DEPLOYED)))
    proc = private_server.python(
        f"import modal\nmodal.Function.from_name({DEPLOYED!r}, 'add_one').remote(1)\n"
    )
    assert proc.returncode != 0
    assert "NotFoundError" in proc.stderr and "modal deploy" in proc.stderr


# ---------- on the session server ----------


def _log_text(client, app_id: str) -> str:
    async def read() -> str:
        request = api_pb2.AppLogsRequest(app_id=app_id, follow=False)
        return "".join([e.data + "\n" async for e in client.stub.AppLogs.stream(request)])

    return run_sync(read())


def test_user_output_reaches_app_logs(nodal_server, wait_until):
    from apps.ephemeral_app import app, shout

    token = uuid.uuid4().hex
    client = run_sync(_default_client())
    with app.run():
        shout.remote(token)
        app_id = app.app_id
        wait_until(lambda: f"user output {token}" in _log_text(client, app_id), 15, "the output in AppLogs")

    # The log outlives the app; the CLI prints it too.
    assert f"user output {token}" in _log_text(client, app_id)
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("modal")), "app", "logs", app_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"user output {token}" in cli.stdout


def test_leaving_app_run_stops_its_containers(nodal_server, host_containers, wait_until):
    from apps.ephemeral_app import app, shout

    client = run_sync(_default_client())
    with app.run():
        task_id = shout.remote("bye")
        assert host_containers.pids(task_id), "the container should be warm while the app runs"
        app_id = app.app_id
    host_containers.wait_gone(task_id, timeout=20)
    apps = run_sync(client.stub.AppList(api_pb2.AppListRequest())).apps
    assert [a.state for a in apps if a.app_id == app_id] == [api_pb2.APP_STATE_STOPPED]
    with pytest.raises(modal.exception.ExecutionError):
        shout.remote("again")


def test_waiting_for_a_spawned_call_rides_out_a_restart(private_server):
    """A FunctionCall.get() already waiting when the server restarts keeps waiting and gets the result."""
    import threading

    from apps.lifecycle_app import app, slow_add

    from modal.client import Client

    deploy_app(app, client=private_server.client())
    call = slow_add.spawn(2, 1.5)
    waiter = Client(f"unix://{private_server.home / 'server.sock'}")  # not closed by the restart
    run_sync(waiter._connect())
    outcome: dict = {}

    def wait() -> None:
        try:
            outcome["value"] = modal.FunctionCall._new(call.object_id, waiter).get(timeout=90)["value"]
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    private_server.restart()  # the call is still running (1.5 s) and the waiter is mid-poll
    thread.join(timeout=120)
    run_sync(waiter._close())
    assert not thread.is_alive()
    assert outcome == {"value": 3}, outcome
