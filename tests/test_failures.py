"""Things going wrong: killed containers, cancelled calls, malformed requests, no server.

Containers are driven from the host: `hold` writes /tmp/started-<token> in its container
and returns once the test writes /tmp/release-<token> there (see apps/failures_app.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import grpc
import pytest

import modal
from modal._utils.async_utils import run_sync
from modal.client import _default_client
from modal.exception import InputCancellation, InternalFailure, InvalidError, NotFoundError
from nodal.proto import api_pb2


@pytest.fixture(scope="module")
def failures_app(nodal_server, require_containers):
    from apps.failures_app import app

    with app.run():
        yield app


def _started(host_containers, token: str) -> str:
    """The task id of the container running the input marked `token`, once it runs."""
    return host_containers.find_file(f"/tmp/started-{token}", timeout=30)


def test_killed_container_is_retried_in_a_new_one(failures_app, host_containers):
    from apps.failures_app import hold_with_retries

    token = uuid.uuid4().hex
    call = hold_with_retries.spawn(token, 60)
    first = _started(host_containers, token)
    host_containers.kill(first)
    host_containers.wait_gone(first)

    second = _started(host_containers, token)  # the retry, in a new container
    assert second != first
    host_containers.write_file(second, f"/tmp/release-{token}")
    assert call.get(timeout=60) == {"task_id": second, "released": True}


def test_killed_container_without_retries_fails_the_call(failures_app, host_containers):
    from apps.failures_app import hold, ping

    token = uuid.uuid4().hex
    call = hold.spawn(token, 60)
    task_id = _started(host_containers, token)
    host_containers.kill(task_id)
    t0 = time.monotonic()
    with pytest.raises(InternalFailure, match=f"container {task_id} exited"):
        call.get(timeout=30)
    assert time.monotonic() - t0 < 20, "the failure must be reported when the container dies"
    assert ping.remote() == "pong"  # the function still serves


def test_killed_container_fails_a_remote_call(failures_app, host_containers):
    """A blocking .remote() whose container dies gets an error, never hangs."""
    import threading

    from apps.failures_app import hold

    token = uuid.uuid4().hex
    outcome: list = []

    def call() -> None:
        try:
            outcome.append(hold.remote(token, 60))
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    host_containers.kill(_started(host_containers, token))
    caller.join(timeout=30)
    assert not caller.is_alive(), ".remote() hung after its container was killed"
    assert isinstance(outcome[0], InternalFailure) and "exited" in str(outcome[0])


def test_cancel_terminates_the_container(failures_app, host_containers):
    from apps.failures_app import hold

    token = uuid.uuid4().hex
    call = hold.spawn(token, 60)
    task_id = _started(host_containers, token)
    call.cancel(terminate_containers=True)
    with pytest.raises(InputCancellation):
        call.get(timeout=10)
    host_containers.wait_gone(task_id, timeout=20)
    graph = call.get_call_graph()
    assert [n.status for n in graph] == [modal.call_graph.InputStatus.TERMINATED]


def test_cancel_without_terminating_keeps_the_container(failures_app, host_containers):
    from apps.failures_app import hold

    token = uuid.uuid4().hex
    call = hold.spawn(token, 60)
    task_id = _started(host_containers, token)
    call.cancel()
    with pytest.raises(InputCancellation):
        call.get(timeout=10)
    assert host_containers.pids(task_id), "the container should stay up"
    call.cancel()  # cancelling twice is harmless
    host_containers.write_file(task_id, f"/tmp/release-{token}")  # let the (sync) input end


def test_cancel_right_after_spawn(failures_app):
    """Cancelled before (or just as) they start: every get() reports the cancellation."""
    from apps.failures_app import hold

    token = uuid.uuid4().hex
    calls = [hold.spawn(f"{token}-{i}", 2) for i in range(3)]
    for c in calls:
        c.cancel()
    for c in calls:
        with pytest.raises(InputCancellation):
            c.get(timeout=10)


def _kill_and_wait_for_retry_backoff(host_containers, wait_until, token: str) -> None:
    """Kill the container running `token`; return once the server knows (the input then waits 5 s)."""
    from apps.failures_app import hold_slow_retry

    task_id = _started(host_containers, token)
    host_containers.kill(task_id)
    wait_until(
        lambda: hold_slow_retry.get_current_stats().num_total_runners == 0, 20, "the server to see the exit"
    )


def test_cancel_during_retry_backoff(nodal_server, host_containers, wait_until):
    """An input waiting out its retry delay is cancelled at once, and never runs again."""
    from apps.failures_app import hold_slow_retry, slow_retry_app

    token = uuid.uuid4().hex
    with slow_retry_app.run():
        call = hold_slow_retry.spawn(token, 60)
        _kill_and_wait_for_retry_backoff(host_containers, wait_until, token)
        call.cancel()
        t0 = time.monotonic()
        with pytest.raises(InputCancellation):
            call.get(timeout=10)
        assert time.monotonic() - t0 < 4, "the cancellation waited for the retry delay"


def test_app_stop_during_retry_backoff_ends_the_call(nodal_server, host_containers, wait_until):
    """Stopping the app ends an input that waits for its retry: get() must not hang."""
    from apps.failures_app import hold_slow_retry, slow_retry_app

    token = uuid.uuid4().hex
    with slow_retry_app.run():
        call = hold_slow_retry.spawn(token, 60)
        _kill_and_wait_for_retry_backoff(host_containers, wait_until, token)
    t0 = time.monotonic()
    with pytest.raises(InputCancellation, match="stopped"):
        call.get(timeout=10)
    assert time.monotonic() - t0 < 4


# ---------- malformed requests ----------


def _client():
    return run_sync(_default_client())


def test_malformed_requests_are_rejected_and_the_server_keeps_serving(failures_app):
    from apps.failures_app import ping

    client = _client()
    with pytest.raises(InvalidError, match="malformed call id"):
        run_sync(client.stub.CallGetOutputs(api_pb2.CallGetOutputsRequest(call_id="nope")))
    with pytest.raises(NotFoundError):
        run_sync(client.stub.CallGetOutputs(api_pb2.CallGetOutputsRequest(call_id="fc-" + "0" * 24)))
    with pytest.raises(InvalidError):
        run_sync(
            client.stub.CallGetOutputs(api_pb2.CallGetOutputsRequest(call_id="fc-" + "0" * 24, timeout=-1))
        )
    with pytest.raises(InvalidError):
        run_sync(client.stub.AppHeartbeat(api_pb2.AppHeartbeatRequest(app_id="nope")))
    with pytest.raises(NotFoundError):
        run_sync(client.stub.FunctionGetStats(api_pb2.FunctionGetStatsRequest(function_id="fu-" + "0" * 24)))
    with pytest.raises(InvalidError):
        run_sync(client.stub.BlobHas(api_pb2.BlobHasRequest(sha256=["not-a-digest"])))
    with pytest.raises(InvalidError):
        run_sync(client.stub.BlobPut(api_pb2.BlobPutRequest(data=b"x", sha256="0" * 64)))
    assert ping.remote() == "pong"


def test_bad_streamed_calls_fail_alone(failures_app):
    """Errors on the shared call stream go to their own call; the stream keeps serving the rest."""
    from apps.failures_app import ping

    client = _client()
    for function_id, error in (("fu-" + "0" * 24, NotFoundError), ("nope", InvalidError)):
        bogus = modal.Function(None, "bogus")
        bogus._hydrate(function_id, client)
        with pytest.raises(error):
            bogus.remote()
        assert ping.remote() == "pong"

    async def put_raw(call_id: str) -> list:
        """Send one put on a CallStream of its own; the responses until the server ends it."""

        async def requests():
            yield api_pb2.CallStreamRequest(
                put=api_pb2.CallPutInputs(
                    call_id=call_id,
                    function_id=ping.object_id,
                    last=True,
                    inputs=[api_pb2.Input(args=api_pb2.Payload(blob="f" * 64))],
                )
            )

        return [r async for r in client.stub.CallStream.stream(requests())]

    for call_id, why in (("nope", "malformed call id"), ("fc-" + "1" * 24, "was not uploaded")):
        (resp,) = run_sync(asyncio.wait_for(put_raw(call_id), 30))
        assert resp.error_call_id == call_id and resp.error_kind == "InvalidError" and why in resp.error
    assert ping.remote() == "pong"


def test_publish_with_a_duplicate_tag_is_rejected(failures_app):
    from apps.failures_app import ping

    client = _client()
    created = run_sync(client.stub.AppCreate(api_pb2.AppCreateRequest(state=api_pb2.APP_STATE_EPHEMERAL)))
    image_id = "im-" + "0" * 24
    fn = api_pb2.FunctionDef(tag="twice", module_name="m", qualname="f", image_id=image_id)
    try:
        with pytest.raises(InvalidError, match="used twice"):
            run_sync(
                client.stub.AppPublish(api_pb2.AppPublishRequest(app_id=created.app_id, functions=[fn, fn]))
            )
        with pytest.raises(InvalidError, match="absolute"):
            run_sync(
                client.stub.AppPublish(
                    api_pb2.AppPublishRequest(
                        app_id=created.app_id,
                        functions=[fn],
                        code_files=[api_pb2.CodeFile(path="../../etc/passwd", sha256="0" * 64)],
                    )
                )
            )
        with pytest.raises(InvalidError):
            run_sync(client.stub.AppPublish(api_pb2.AppPublishRequest(app_id="nope")))
    finally:
        run_sync(client.stub.AppStop(api_pb2.AppStopRequest(app_id=created.app_id)))
    assert ping.remote() == "pong"


def _worker_stream(messages: list) -> grpc.StatusCode:
    """Open a WorkerStream, send `messages`, and return the status code it ends with."""
    client = _client()

    async def run() -> grpc.StatusCode:
        async def requests():
            for m in messages:
                yield m

        call = client.stub.WorkerStream.stream(requests())
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    return run_sync(run())


def test_worker_stream_rejects_strangers(failures_app):
    from apps.failures_app import ping

    hello = api_pb2.WorkerMessage(hello=api_pb2.WorkerHello(container_id="ta-" + "0" * 24, token="bad"))
    assert _worker_stream([hello]) == grpc.StatusCode.UNAUTHENTICATED
    ready = api_pb2.WorkerMessage(ready=api_pb2.WorkerReady())
    assert _worker_stream([ready]) == grpc.StatusCode.INVALID_ARGUMENT
    assert _worker_stream([]) != grpc.StatusCode.OK
    assert ping.remote() == "pong"


# ---------- no server ----------


def test_unreachable_server_gives_a_connection_error_that_says_what_to_do(tmp_path):
    missing = tmp_path / "no-server.sock"
    code = (
        "import modal, time\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        "    modal.Function.from_name('any-app', 'f').remote()\n"
        "except modal.exception.ConnectionError as exc:\n"
        "    print('ConnectionError:', exc)\n"
        "print('seconds:', round(time.monotonic() - t0, 1))\n"
    )
    config = tmp_path / "modal.toml"
    config.write_text(f'[default]\nserver_url = "{missing}"\n')
    settings = (
        {"MODAL_SERVER_URL": f"unix://{missing}"},
        {"MODAL_SERVER_URL": str(missing)},  # a bare path is a unix socket too
        {"MODAL_CONFIG_PATH": str(config)},  # server_url from the config file
    )
    for setting in settings:
        env = {k: v for k, v in os.environ.items() if k not in ("MODAL_SERVER_URL", "MODAL_CONFIG_PATH")}
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, **setting},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "ConnectionError:" in proc.stdout, (setting, proc.stdout)
        message = proc.stdout.split("ConnectionError:", 1)[1]
        assert str(missing) in message, setting
        assert "modal server start" in message and "MODAL_SERVER_URL" in message
        seconds = float(proc.stdout.rsplit("seconds:", 1)[1])
        assert seconds < 20


def test_warm_container_that_cannot_start_backs_off(nodal_server, require_containers):
    """min_containers with a failing @enter restarts with growing pauses, not in a tight loop."""
    from apps.crashloop_app import app, tries

    with app.run():
        stamps = [tries.get(timeout=60) for _ in range(4)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # 1 s, 2 s, 4 s between tries (minus start-up jitter); a tight loop would be ~0.25 s apart
    assert gaps[1] >= 1.5 and gaps[2] >= 3.0, gaps
