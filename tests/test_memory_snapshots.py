"""`enable_memory_snapshot=True`: a function's pool holds one container pre-initialised (its
module imported, @enter(snap=True) run) and its next cold start takes it, running only the
other @enter methods (nodal.server.scheduler). The tests run on a server of their own."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.usefixtures("require_containers")


def _held(client, app_id: str, function: str = "") -> list[str]:
    """The app's containers (of `function`, or any) held as memory snapshots, ready to be taken."""
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    listed = run_sync(client.stub.ContainerList(api_pb2.ContainerListRequest(app_id=app_id)))
    return [c.container_id for c in listed.containers
            if c.state == "snapshot" and c.function_name == (function or c.function_name)]


def test_cold_start_takes_the_snapshot_and_runs_only_the_other_enters(private_server, wait_until):
    from apps.snapshot_app import Model, app

    client = private_server.client()
    with app.run(client=client):
        held = wait_until(lambda: _held(client, app.app_id, "Model.*"), 90, "the class's memory snapshot")
        before = time.time()
        report = Model().report.remote()
        assert report["task_id"] in held
        assert report["imported_at"] < before  # imported before the call: the snapshot's work
        (snap, snap_at), (after, after_at) = report["events"]
        assert (snap, after) == ("snap", "after")  # @enter(snap=True) first, the other after restore
        assert snap_at < before <= after_at

        # max_inputs=1 retired that container; the pool held a new snapshot for the next cold start
        again = wait_until(lambda: [c for c in _held(client, app.app_id, "Model.*") if c != report["task_id"]], 90,
                           "a new memory snapshot")
        before = time.time()
        second = Model().report.remote()
        assert second["task_id"] in again and second["imported_at"] < before


def test_a_function_with_a_snapshot_starts_imported(private_server, wait_until):
    from apps.snapshot_app import app, plain

    client = private_server.client()
    with app.run(client=client):
        held = wait_until(lambda: _held(client, app.app_id, "plain"), 90, "the function's memory snapshot")
        before = time.time()
        report = plain.remote()
        assert report["task_id"] in held
        assert report["imported_at"] < before


def test_a_snapshot_that_cannot_load_leaves_cold_starts_to_report_the_error(private_server, wait_until):
    from apps.snapshot_broken_app import app, never_loads


    client = private_server.client()
    with app.run(client=client):
        with pytest.raises(RuntimeError, match="refuses to load"):  # the container's own error
            never_loads.remote()
        log = private_server.home / "logs" / "server.log"
        wait_until(lambda: "its cold starts will not use one" in log.read_text(), 60, "the snapshot's warning")
        assert _held(client, app.app_id) == []
