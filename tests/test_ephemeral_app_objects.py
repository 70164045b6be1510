"""Ephemeral Dicts and Queues made while an app runs belong to that app and are deleted when it
stops (issue 4); ones made outside any app keep living by their owner's heartbeats."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

import modal
from modal.exception import NotFoundError
from modal.runner import deploy_app

MODAL = [sys.executable, "-m", "modal.cli.entry"]
GONE_DEADLINE = 60.0  # far below the 300 s an owner-less object would otherwise live


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _exists(handle: modal.Queue | modal.Dict) -> bool:
    try:
        handle.len()
    except NotFoundError:
        return False
    return True


def _queue(object_id: str) -> modal.Queue:
    return modal.Queue(object_id=object_id)


def _queue_maker(app: modal.App):
    """A function that makes an ephemeral Queue in its container and leaves it open (the
    container keeps heartbeating for it): only its app stopping can delete it soon."""

    @app.function(serialized=True)
    def make_queue() -> str:
        q = modal.Queue.ephemeral().__enter__()  # never exited: only the app's stop ends it
        q.put("made in a container")
        return q.object_id

    return make_queue


def test_queue_made_in_a_container_goes_with_its_ephemeral_app(nodal_server, require_containers, wait_until):
    app = modal.App(_name("eph-objects"))
    make_queue = _queue_maker(app)
    with app.run():
        q = _queue(make_queue.remote())
        assert q.len() == 1, "the queue lives while its app runs"
        assert q.get(timeout=5) == "made in a container"
    wait_until(lambda: not _exists(q), GONE_DEADLINE, "the app's ephemeral queue to be deleted")
    try:
        q.put("x")
    except NotFoundError as exc:
        assert q.object_id in str(exc)
    else:
        raise AssertionError("a put to the deleted queue must fail with NotFoundError")


def test_objects_made_by_the_client_inside_app_run_go_with_the_app(nodal_server, wait_until):
    app = modal.App(_name("eph-client"))

    @app.function(serialized=True)
    def unused() -> None:  # an app needs no container for this: nothing is called
        pass

    with app.run():
        dict_ctx = modal.Dict.ephemeral({"k": "v"})
        d = dict_ctx.__enter__()
        queue_ctx = modal.Queue.ephemeral()
        q = queue_ctx.__enter__()
        q.put(1)
        assert d["k"] == "v" and q.len() == 1
    wait_until(lambda: not _exists(d) and not _exists(q), GONE_DEADLINE,
               "the client's ephemeral objects to go with the app")
    dict_ctx.__exit__(None, None, None)  # leaving the block after the app deleted it is fine
    queue_ctx.__exit__(None, None, None)


def test_queue_made_in_a_deployed_app_lives_until_app_stop(nodal_server, require_containers, wait_until):
    name = _name("eph-deployed")
    app = modal.App(name)
    _queue_maker(app)
    deploy_app(app)
    q = _queue(modal.Function.from_name(name, "make_queue").remote())
    assert q.len() == 1
    # Other apps stopping does not touch it.
    other = modal.App(_name("eph-other"))
    _queue_maker(other)
    with other.run():
        pass
    assert q.len() == 1, "a deployed app's ephemeral queue outlives other apps and its calls"

    proc = subprocess.run([*MODAL, "app", "stop", name], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_until(lambda: not _exists(q), GONE_DEADLINE, "the deployed app's queue to go after `modal app stop`")


def test_ephemeral_dict_outside_any_app_is_unchanged(nodal_server, wait_until):
    with modal.Dict.ephemeral({"a": 1}) as d:
        app = modal.App(_name("eph-unrelated"))

        @app.function(serialized=True)
        def unused() -> None:
            pass

        with app.run():
            d["b"] = 2
        # Created before the app ran: it belongs to no app, so the app's stop leaves it alone.
        assert dict(d.items()) == {"a": 1, "b": 2}
        object_id = d.object_id
    # ... and its own block's end deletes it, as before.
    assert not _exists(modal.Dict(object_id=object_id))


def test_bad_app_ids_are_refused(nodal_server):
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from modal.exception import InvalidError
    from nodal.proto import api_pb2

    async def create(app_id: str, name: str = "", kind: int = api_pb2.DATA_OBJECT_KIND_QUEUE) -> str:
        client = await _default_client()
        resp = await client.stub.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
            kind=kind, ephemeral=not name, name=name, create_if_missing=True,
            app_id=app_id))
        return resp.object_id

    with pytest.raises(InvalidError, match="malformed app id"):
        run_sync(create("nonsense"))
    with pytest.raises(NotFoundError, match="not found"):
        run_sync(create("ap-" + "0" * 24))
    with pytest.raises(InvalidError, match="only for ephemeral objects"):
        run_sync(create("ap-" + "0" * 24, name=_name("named")))
    with pytest.raises(InvalidError, match="only ephemeral Dicts and Queues"):
        run_sync(create("ap-" + "0" * 24, kind=api_pb2.DATA_OBJECT_KIND_VOLUME))


def test_stores_keep_the_owning_app(metadata_store):
    """Both metadata backends record an ephemeral object's app and find its objects by app."""
    from nodal.proto import api_pb2
    from nodal.store.metadata import DataObjectRecord

    queue, dict_ = api_pb2.DATA_OBJECT_KIND_QUEUE, api_pb2.DATA_OBJECT_KIND_DICT
    metadata_store.put_data_object(DataObjectRecord("qu-1", queue, None, "main", 1.0, "ap-1"))
    metadata_store.put_data_object(DataObjectRecord("di-1", dict_, None, "main", 2.0, "ap-1"))
    metadata_store.put_data_object(DataObjectRecord("qu-2", queue, None, "main", 3.0, "ap-2"))
    metadata_store.put_data_object(DataObjectRecord("qu-3", queue, None, "main", 4.0))  # no app
    assert sorted(metadata_store.app_data_objects("ap-1")) == ["di-1", "qu-1"]
    metadata_store.delete_data_object("qu-1")
    assert metadata_store.app_data_objects("ap-1") == ["di-1"]
    assert metadata_store.app_data_objects("ap-3") == []


def test_objects_of_an_app_cut_off_by_a_server_restart_are_deleted(private_server, wait_until):
    """An ephemeral app cannot outlive the server that ran it: the restarted server stops it,
    and its ephemeral objects go with it."""
    client = private_server.client()
    app = modal.App(_name("eph-restart"))

    @app.function(serialized=True)
    def unused() -> None:
        pass

    with app.run(client=client):
        d = modal.Dict.ephemeral({"k": 1}, client=client).__enter__()
        kept = modal.Dict.from_name(_name("named"), create_if_missing=True, client=client)
        kept["k"] = 1
        private_server.restart()
    fresh = private_server.client()
    wait_until(lambda: not _exists(modal.Dict(object_id=d.object_id, client=fresh)), GONE_DEADLINE,
               "the cut-off app's ephemeral dict to be deleted at start-up")
    assert modal.Dict(object_id=kept.object_id, client=fresh)["k"] == 1, "named objects stay"


def test_inside_nested_runs_the_innermost_app_owns_them_and_volumes_stay_untied(nodal_server, wait_until):
    outer, inner = modal.App(_name("eph-outer")), modal.App(_name("eph-inner"))
    for app in (outer, inner):
        app.function(serialized=True)(lambda: None)
    with outer.run():
        with inner.run():
            with modal.Volume.ephemeral() as vol:  # not tied to an app: refused before the fix
                vol.listdir("/")
            d = modal.Dict.ephemeral().__enter__()
            d["k"] = 1
        wait_until(lambda: not _exists(d), GONE_DEADLINE, "the inner app's dict to go with the inner app")
