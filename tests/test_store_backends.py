"""The metadata store contract on both backends (SQLite and a real PostgreSQL server), and a
Nodal server that keeps its metadata in PostgreSQL across a restart."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from nodal.proto import api_pb2
from nodal.store.backends import postgres as pg_backend
from nodal.store.backends import sqlite as sqlite_backend
from nodal.store.backends.postgres import PostgresMetadataStore, redact_url
from nodal.store.backends.sqlite import SchemaTooNewError, SqliteMetadataStore
from nodal.store.identity_records import AuditRecord, TokenRecord
from nodal.store.metadata import (
    AppRecord,
    BoundFunctionRecord,
    CallRecord,
    DataObjectRecord,
    FunctionRecord,
)

DICT, QUEUE, VOLUME = api_pb2.DATA_OBJECT_KIND_DICT, api_pb2.DATA_OBJECT_KIND_QUEUE, api_pb2.DATA_OBJECT_KIND_VOLUME
LIVE = (api_pb2.APP_STATE_DEPLOYED, api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED)


def _app(app_id: str, name: str = "web", version: int = 1, created_at: float = 1.0,
         state: int = api_pb2.APP_STATE_DEPLOYED, environment: str = "main") -> AppRecord:
    return AppRecord(app_id, name, environment, state, version, "desc", "", created_at, 0.0, '[["a.py", "h", 420]]')


def test_both_backends_have_the_same_migrations():
    assert len(pg_backend.MIGRATIONS) == len(sqlite_backend.MIGRATIONS)


# ---------- apps, functions, environments, images ----------


def test_apps_and_functions_round_trip(metadata_store):
    s = metadata_store
    s.put_app(_app("ap-2", version=2, created_at=2.0))
    s.put_app(_app("ap-1", version=1, created_at=1.0))
    s.put_app(_app("ap-9", name="other", environment="dev", created_at=3.0))
    assert s.get_app("ap-1") == _app("ap-1", version=1, created_at=1.0)
    assert s.get_app("nope") is None
    assert [a.app_id for a in s.list_apps()] == ["ap-1", "ap-2", "ap-9"]
    assert [a.app_id for a in s.list_apps("dev")] == ["ap-9"]
    assert [a.app_id for a in s.app_versions("web", "main")] == ["ap-2", "ap-1"]
    stopped = _app("ap-1", state=api_pb2.APP_STATE_STOPPED)
    stopped.stopped_at = 5.0
    s.put_app(stopped)  # replaces the row
    assert s.get_app("ap-1") == stopped and len(s.list_apps()) == 3

    s.put_functions([FunctionRecord("fu-1", "ap-2", "f", b"\x00def"), FunctionRecord("fu-2", "ap-2", "g", b"")])
    s.put_functions([FunctionRecord("fu-1", "ap-2", "f", b"\x01new")])
    assert s.get_function("fu-1") == FunctionRecord("fu-1", "ap-2", "f", b"\x01new")
    assert sorted(f.function_id for f in s.list_functions("ap-2")) == ["fu-1", "fu-2"]
    assert s.get_function("fu-x") is None and s.list_functions("ap-x") == []

    bound = BoundFunctionRecord("fu-1/abc", "fu-1", b"params", b"over")
    s.put_bound_params(bound)
    s.put_bound_params(BoundFunctionRecord("fu-1/abc", "fu-1", b"other", b""))  # a no-op: content-addressed
    assert s.get_bound_params("fu-1/abc") == bound
    s.put_bound_params(BoundFunctionRecord("fu-1/def", "fu-1", b"p"))
    assert s.get_bound_params("fu-1/def").overrides == b""
    assert s.get_bound_params("none") is None

    s.put_image("im-1", b"spec")
    s.put_image("im-1", b"ignored")
    assert s.get_image("im-1") == b"spec" and s.get_image("im-2") is None


def test_environments(metadata_store):
    s = metadata_store
    assert s.put_environment("staging", 10.0) is True
    assert s.put_environment("staging", 11.0) is False
    s.put_app(_app("ap-1", environment="main", created_at=3.0))
    s.put_data_object(DataObjectRecord("di-1", DICT, "d", "objs", 4.0))
    assert s.list_environments() == {"staging": 10.0, "main": 3.0, "objs": 4.0}
    assert s.delete_environment("staging") is True and s.delete_environment("staging") is False


# ---------- durable calls ----------


def test_calls_park_unpark_and_finish(metadata_store):
    s = metadata_store
    # a map's inputs share one created_at: they keep the order they were accepted in
    calls = [CallRecord(f"ca-{i:02d}-{'zyx'[i % 3]}", "fu-1", b"in%d" % i, 5.0, "", parked=True) for i in range(12)]
    s.put_calls(calls)
    s.put_calls([CallRecord("ca-other", "fu-2", b"x", 1.0, "in-parent")])
    got = s.get_call("ca-other")
    assert (got.function_id, got.input, got.parent_input_id, got.done, got.outputs) == ("fu-2", b"x", "in-parent",
                                                                                          False, None)
    first = s.unpark_calls("fu-1", 5)
    assert [c.call_id for c in first] == [c.call_id for c in calls[:5]]
    assert [c.call_id for c in s.unpark_calls("fu-1", 100)] == [c.call_id for c in calls[5:]]
    assert s.unpark_calls("fu-1", 100) == []
    s.finish_call("ca-00-z", b"outputs")
    assert s.get_call("ca-00-z").done is True and s.get_call("ca-00-z").outputs == b"outputs"
    assert [c.call_id for c in s.pending_calls()] == ["ca-other"] + [c.call_id for c in calls[1:]]
    assert sorted(s.park_pending()) == ["fu-1", "fu-2"]
    assert len(s.unpark_calls("fu-1", 100)) == 11
    assert s.get_call("missing") is None


# ---------- data objects: Dicts, Queues, Volumes ----------


def test_data_objects_and_the_unique_name_rule(metadata_store):
    s = metadata_store
    s.put_data_object(DataObjectRecord("di-b", DICT, "b", "main", 1.0))
    s.put_data_object(DataObjectRecord("di-a", DICT, "a", "main", 2.0))
    s.put_data_object(DataObjectRecord("qu-a", QUEUE, "a", "main", 3.0))  # another kind: its own names
    s.put_data_object(DataObjectRecord("di-a2", DICT, "a", "dev", 3.0))  # another environment
    s.put_data_object(DataObjectRecord("di-e1", DICT, None, "main", 4.0))  # anonymous ones never clash
    s.put_data_object(DataObjectRecord("di-e2", DICT, None, "main", 4.0))
    with pytest.raises(sqlite3.IntegrityError):
        s.put_data_object(DataObjectRecord("di-x", DICT, "a", "main", 5.0))
    assert s.get_data_object("di-a") == DataObjectRecord("di-a", DICT, "a", "main", 2.0)
    assert s.find_data_object(DICT, "a", "dev").object_id == "di-a2"
    assert s.find_data_object(QUEUE, "b", "main") is None
    assert [o.object_id for o in s.list_data_objects(DICT, "main")] == ["di-a", "di-b"]  # named only, by name

    with pytest.raises(sqlite3.IntegrityError):
        s.rename_data_object("di-b", "a")
    s.rename_data_object("di-b", "c")
    assert s.find_data_object(DICT, "c", "main").object_id == "di-b"

    s.dict_put("di-a", [(b"k", b"v")], 1.0, False, 0.0)
    s.queue_put("di-a", b"", [b"x"], 100.0)
    s.volume_put_version("di-a", 1, "{}", 1.0)
    s.delete_data_object("di-a")
    assert s.get_data_object("di-a") is None and s.dict_len("di-a") == 0
    assert s.queue_len("di-a", None) == 0 and s.volume_latest("di-a") is None
    s.put_data_object(DataObjectRecord("di-new", DICT, "a", "main", 6.0))  # the name is free again


def test_ephemeral_objects_heartbeat(metadata_store):
    s = metadata_store
    s.put_data_object(DataObjectRecord("qu-e", QUEUE, None, "main", 10.0))
    s.put_data_object(DataObjectRecord("qu-n", QUEUE, "named", "main", 10.0))
    assert s.stale_ephemeral(11.0) == ["qu-e"]
    assert s.heartbeat_data_object("qu-e", 20.0) is True
    assert s.heartbeat_data_object("qu-n", 20.0) is False  # named objects are not ephemeral
    assert s.heartbeat_data_object("qu-missing", 20.0) is False
    assert s.stale_ephemeral(15.0) == []
    s.refresh_ephemeral(50.0)
    assert s.stale_ephemeral(40.0) == [] and s.stale_ephemeral(51.0) == ["qu-e"]


def test_dict_operations(metadata_store):
    s = metadata_store
    assert s.dict_put("di-1", [(b"a", b"1")], 10.0, False, 0.0) is True
    assert s.dict_put("di-1", [(b"c", b"3"), (b"b", b"2"), (b"c", b"3b")], 10.0, False, 0.0) is True
    assert s.dict_get("di-1", b"c", 0.0) == b"3b"  # the last value of a repeated key wins
    assert s.dict_len("di-1") == 3
    assert s.dict_contents("di-1", 0.0) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3b")]
    # skip_if_exists: nothing is written when one key is live
    assert s.dict_put("di-1", [(b"z", b"26"), (b"a", b"new")], 20.0, True, 0.0) is False
    assert s.dict_get("di-1", b"z", 0.0) is None and s.dict_get("di-1", b"a", 0.0) == b"1"
    # ... but an expired one counts as absent
    assert s.dict_put("di-1", [(b"a", b"fresh")], 20.0, True, 15.0) is True
    assert s.dict_get("di-1", b"a", 15.0) == b"fresh"
    # min_updated_at hides expired entries from get and contents; len counts them
    assert s.dict_get("di-1", b"b", 15.0) is None and s.dict_get("di-1", b"b", 10.0) == b"2"
    assert s.dict_contents("di-1", 15.0) == [(b"a", b"fresh")]
    assert s.dict_len("di-1") == 3
    # pop removes either way, and answers only a live value
    assert s.dict_pop("di-1", b"b", 15.0) is None and s.dict_len("di-1") == 2
    assert s.dict_pop("di-1", b"a", 15.0) == b"fresh" and s.dict_pop("di-1", b"a", 0.0) is None
    assert s.dict_get("di-2", b"c", 0.0) is None  # other dicts are separate
    s.dict_clear("di-1")
    assert s.dict_len("di-1") == 0 and s.dict_contents("di-1", 0.0) == []


def test_queue_operations(metadata_store):
    s = metadata_store
    values = [b"v%03d" % i for i in range(100)]
    s.queue_put("qu-1", b"", values, 1000.0)
    s.queue_put("qu-1", b"p", [b"p1", b"p2"], 50.0)
    s.queue_put("qu-2", b"", [b"other"], 1000.0)
    assert s.queue_len("qu-1", None) == 102 and s.queue_len("qu-1", b"") == 100 and s.queue_len("qu-1", b"p") == 2
    assert s.queue_partition_count("qu-1") == 2
    assert s.queue_has_partition("qu-1", b"p") and not s.queue_has_partition("qu-1", b"q")
    assert s.queue_take("qu-1", b"", 1) == [b"v000"]
    assert s.queue_take("qu-1", b"", 3) == [b"v001", b"v002", b"v003"]
    after = s.queue_items_after("qu-1", b"", 0, 3)
    assert [v for _, v in after] == [b"v004", b"v005", b"v006"]
    assert [v for _, v in s.queue_items_after("qu-1", b"", after[-1][0], 2)] == [b"v007", b"v008"]
    assert s.queue_len("qu-1", b"") == 96  # iterating leaves items in place
    assert s.queue_take("qu-1", b"", 1000) == values[4:]
    assert s.queue_take("qu-1", b"", 5) == []
    s.queue_put("qu-1", b"", [b"later"], 1000.0)
    assert s.queue_take("qu-1", b"", 5) == [b"later"]  # FIFO goes on

    s.queue_expire("qu-1", 40.0)
    assert s.queue_len("qu-1", b"p") == 2
    s.queue_expire("qu-1", 60.0)  # partition p's TTL ran out
    assert s.queue_len("qu-1", b"p") == 0 and not s.queue_has_partition("qu-1", b"p")
    assert s.queue_partition_count("qu-1") == 1
    s.queue_put("qu-1", b"p", [b"x"], 500.0)
    s.queue_clear("qu-1", b"p")
    assert s.queue_len("qu-1", b"p") == 0 and s.queue_partition_count("qu-1") == 1
    s.queue_clear("qu-1", None)
    assert s.queue_partition_count("qu-1") == 0 and s.queue_len("qu-2", None) == 1


# ---------- schedules ----------


def test_schedule_claims_fire_only_once(metadata_store):
    s = metadata_store
    assert s.schedule_state("fu-s", 100.0) == (100.0, None)
    assert s.schedule_state("fu-s", 999.0) == (100.0, None)  # the first anchor stays
    assert s.claim_schedule_fire("fu-s", None, 160.0) is True
    assert s.claim_schedule_fire("fu-s", None, 160.0) is False  # someone else already fired it
    assert s.schedule_state("fu-s", 0.0) == (100.0, 160.0)
    assert s.claim_schedule_fire("fu-s", 100.0, 220.0) is False
    assert s.claim_schedule_fire("fu-s", 160.0, 220.0) is True

    s.put_app(_app("ap-live", state=api_pb2.APP_STATE_DEPLOYED))
    s.put_app(_app("ap-dead", name="dead", state=api_pb2.APP_STATE_STOPPED))
    s.put_functions([FunctionRecord("fu-a", "ap-live", "a", b""), FunctionRecord("fu-b", "ap-live", "b", b""),
                     FunctionRecord("fu-c", "ap-dead", "c", b"")])
    for fid in ("fu-a", "fu-b", "fu-c"):
        s.schedule_state(fid, 0.0)
    claims = [("fu-a", None), ("fu-b", None), ("fu-c", None), ("fu-unknown", None)]
    assert s.claim_schedule_fires(claims, 60.0, LIVE) == ["fu-a", "fu-b"]
    assert s.claim_schedule_fires(claims, 60.0, LIVE) == []  # each fire is claimed once
    assert s.claim_schedule_fires([("fu-a", 60.0)], 120.0, LIVE) == ["fu-a"]
    assert s.claim_schedule_fires([], 120.0, LIVE) == []


# ---------- secrets ----------


def test_secrets_and_secret_names(metadata_store):
    s = metadata_store
    s.put_secret("st-1", "cipher-1")
    s.put_secret("st-2", "cipher-2")
    assert s.get_secret("st-1") == "cipher-1" and s.get_secret("st-x") is None
    assert s.update_secret_env("st-1", "cipher-1b") is True and s.update_secret_env("st-x", "c") is False
    assert sorted(s.all_secrets()) == [("st-1", "cipher-1b"), ("st-2", "cipher-2")]
    s.set_secret_owner("st-1", "ws/dev")
    assert s.secret_owner("st-1") == "ws/dev" and s.secret_owner("st-2") == "" and s.secret_owner("st-x") is None
    s.update_secret_env("st-1", "cipher-1c")
    assert s.secret_owner("st-1") == "ws/dev"  # an update keeps the owner

    s.put_secret_name("b-secret", "main", "st-1", 10.0)
    s.put_secret_name("a-secret", "main", "st-2", 11.0)
    s.put_secret_name("b-secret", "dev", "st-2", 12.0)
    s.put_secret_name("b-secret", "main", "st-2", 20.0)  # repointed: created_at stays
    found = s.find_secret_name("b-secret", "main")
    assert (found.secret_id, found.created_at, found.updated_at) == ("st-2", 10.0, 20.0)
    assert [r.name for r in s.list_secret_names("main")] == ["a-secret", "b-secret"]
    s.delete_secret_name("b-secret", "main")
    assert s.find_secret_name("b-secret", "main") is None and s.find_secret_name("b-secret", "dev") is not None
    s.delete_secret("st-1")
    assert s.get_secret("st-1") is None


def test_secret_updates_in_a_transaction_commit_together(metadata_store):
    s = metadata_store
    s.put_secret("st-1", "old")
    with pytest.raises(RuntimeError), s.transaction():
        s.update_secret_env("st-1", "new")
        s.put_secret_name("n", "main", "st-1", 1.0)
        raise RuntimeError("a failure between the writes")
    assert s.get_secret("st-1") == "old" and s.find_secret_name("n", "main") is None
    with s.transaction():
        s.update_secret_env("st-1", "new")
        s.put_secret_name("n", "main", "st-1", 1.0)
    assert s.get_secret("st-1") == "new" and s.find_secret_name("n", "main").secret_id == "st-1"


# ---------- volumes and sandboxes ----------


def test_volume_versions(metadata_store):
    s = metadata_store
    assert s.volume_latest("vo-1") is None
    s.volume_put_version("vo-1", 1, '{"a": ["h", 1, 420, 0]}', 1.0)
    s.volume_put_version("vo-1", 2, '{"b": ["h", 1, 420, 0]}', 2.0)
    with pytest.raises(sqlite3.IntegrityError):
        s.volume_put_version("vo-1", 2, "{}", 3.0)  # a taken version: another commit won
    assert s.volume_latest("vo-1") == (2, '{"b": ["h", 1, 420, 0]}')


def test_sandboxes(metadata_store):
    s = metadata_store
    s.put_sandbox("sb-2", "ap-1", False, 2.0, b"two")
    s.put_sandbox("sb-1", "ap-1", False, 1.0, b"one")
    s.put_sandbox("sb-3", "ap-2", False, 3.0, b"three")
    s.put_sandbox("sb-2", "ap-1", True, 2.0, b"two-done")  # replaced
    assert s.get_sandbox("sb-2") == b"two-done" and s.get_sandbox("sb-x") is None
    assert s.list_sandboxes("ap-1", False) == [b"one"]
    assert s.list_sandboxes("ap-1", True) == [b"one", b"two-done"]
    assert s.list_sandboxes(None, False) == [b"one", b"three"]


# ---------- identities ----------


def test_workspaces_tokens_and_audit(metadata_store):
    s = metadata_store
    assert s.put_workspace("zeta", 1.0) is True and s.put_workspace("alpha", 2.0) is True
    assert s.put_workspace("zeta", 3.0) is False
    assert s.list_workspaces() == {"alpha": 2.0, "zeta": 1.0} and list(s.list_workspaces()) == ["alpha", "zeta"]
    s.put_user("zeta", "ann", 1.0)
    s.put_user("zeta", "ann", 2.0)  # idempotent

    tok = TokenRecord("ak-1", "ab" * 32, "zeta", "ann", True, "ci", 5.0)
    s.put_token(tok)
    s.put_token(TokenRecord("ak-2", "cd" * 32, "alpha", "bob", False, "", 4.0))
    with pytest.raises(sqlite3.IntegrityError):
        s.put_token(tok)
    assert s.get_token("ak-1") == tok and s.get_token("ak-x") is None
    assert [t.token_id for t in s.list_tokens(None)] == ["ak-2", "ak-1"]
    assert [t.token_id for t in s.list_tokens("zeta")] == ["ak-1"]
    assert s.count_tokens() == 2
    s.touch_token("ak-1", 7.0)
    assert s.revoke_token("ak-1", 8.0) is True and s.revoke_token("ak-1", 9.0) is False
    assert s.revoke_token("ak-x", 9.0) is False
    got = s.get_token("ak-1")
    assert (got.admin, got.revoked_at, got.last_used_at) == (True, 8.0, 7.0)

    for i in range(5):
        s.append_audit(float(i), "zeta" if i % 2 else "alpha", "ann", f"act{i}", "t", "d")
    assert s.list_audit(2, None) == [AuditRecord(3.0, "zeta", "ann", "act3", "t", "d"),
                                     AuditRecord(4.0, "alpha", "ann", "act4", "t", "d")]
    assert [a.action for a in s.list_audit(10, "zeta")] == ["act1", "act3"]


# ---------- transactions ----------


def test_transaction_rolls_back_on_error_and_failed_calls_undo_only_themselves(metadata_store):
    s = metadata_store
    s.put_data_object(DataObjectRecord("di-taken", DICT, "taken", "main", 1.0))
    with s.transaction():
        s.dict_put("di-1", [(b"a", b"1")], 1.0, False, 0.0)
        with pytest.raises(sqlite3.IntegrityError):  # the caller handles it and goes on
            s.put_data_object(DataObjectRecord("di-2", DICT, "taken", "main", 2.0))
        s.queue_put("qu-1", b"", [b"x"], 100.0)
        with s.transaction():  # blocks nest
            s.dict_put("di-1", [(b"b", b"2")], 1.0, False, 0.0)
        assert s.dict_put("di-1", [(b"a", b"3")], 1.0, True, 0.0) is False
    assert s.dict_contents("di-1", 0.0) == [(b"a", b"1"), (b"b", b"2")]
    assert s.queue_take("qu-1", b"", 5) == [b"x"] and s.get_data_object("di-2") is None

    with pytest.raises(RuntimeError), s.transaction():  # an escaping error undoes the whole block
        s.queue_put("qu-1", b"", [b"y", b"z"], 100.0)
        s.dict_clear("di-1")
        raise RuntimeError("boom")
    assert s.queue_len("qu-1", None) == 0 and s.dict_len("di-1") == 2

    with pytest.raises(RuntimeError), s.transaction():
        with s.transaction():
            s.dict_put("di-1", [(b"c", b"3")], 1.0, False, 0.0)
        raise RuntimeError("the outer block fails after the inner one finished")
    assert s.dict_get("di-1", b"c", 0.0) is None


def test_data_stream_group_commit_on_both_backends(metadata_store):
    """The data service's one-transaction-per-message path answers the same on either store."""
    import cloudpickle

    from nodal.server.dict_queue import DataService
    from nodal.server.errors import ApiError

    svc = DataService(metadata_store)
    d = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=DICT, ephemeral=True))
    q = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=QUEUE, ephemeral=True))
    key = cloudpickle.dumps("a")
    res = svc.answer([
        api_pb2.DataOp(id=1, dict_put=api_pb2.DictPutRequest(dict_id=d, entries=[api_pb2.DictEntry(key=key, value=b"A")])),
        api_pb2.DataOp(id=2, dict_get=api_pb2.DictGetRequest(dict_id="di-missing", key=key, want_value=True)),
        api_pb2.DataOp(id=3, dict_put=api_pb2.DictPutRequest(
            dict_id=d, skip_if_exists=True, entries=[api_pb2.DictEntry(key=key, value=b"B")])),
        api_pb2.DataOp(id=4, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"1", b"2"], partition_ttl=60)),
        api_pb2.DataOp(id=5, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=1)),
        api_pb2.DataOp(id=6, queue_len=api_pb2.QueueLenRequest(queue_id=q)),
    ]).results
    assert [r.id for r in res] == [1, 2, 3, 4, 5, 6]
    assert res[0].dict_put.created and res[1].error_kind == "NotFoundError" and not res[2].dict_put.created
    assert list(res[4].queue_get.values) == [b"1"] and res[5].count.count == 1
    assert metadata_store.dict_get(d, key, 0.0) == b"A" and metadata_store.queue_take(q, b"", 5) == [b"2"]

    # the service turns either backend's integrity error into AlreadyExistsError
    v1 = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=VOLUME, name="v1", create_if_missing=True))
    svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=VOLUME, name="v2", create_if_missing=True))
    with pytest.raises(ApiError) as err:
        svc.rename_volume(api_pb2.VolumeRenameRequest(volume_id=v1, name="v2"))
    assert err.value.kind == "AlreadyExistsError"


# ---------- schema versions ----------


def test_a_newer_schema_is_refused(metadata_store, tmp_path):
    s = metadata_store
    if isinstance(s, SqliteMetadataStore):
        s.db.execute(f"PRAGMA user_version = {len(sqlite_backend.MIGRATIONS) + 1}")
        with pytest.raises(SchemaTooNewError, match="newer than this Nodal understands"):
            SqliteMetadataStore(s.path)
    else:
        assert s.schema_version() == len(pg_backend.MIGRATIONS)
        s.conn.execute("UPDATE schema_version SET version = %s", (len(pg_backend.MIGRATIONS) + 1,))
        with pytest.raises(SchemaTooNewError, match="newer than this Nodal understands") as err:
            PostgresMetadataStore(s.url)
        assert "NODAL_DATABASE_URL" in str(err.value) and "nodal-test-password" not in str(err.value)


def test_postgres_migrates_once_and_reopens(postgres_url):
    stores = []
    errors = []

    def open_one() -> None:
        try:
            stores.append(PostgresMetadataStore(postgres_url))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]  # three servers starting at once
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 3
    a, b = stores[0], stores[1]
    a.queue_put("qu-1", b"", [b"%d" % i for i in range(50)], 100.0)
    taken_a, taken_b = a.queue_take("qu-1", b"", 20), b.queue_take("qu-1", b"", 20)
    assert sorted(taken_a + taken_b + a.queue_take("qu-1", b"", 50)) == sorted(b"%d" % i for i in range(50))
    for s in stores:
        s.close()
    again = PostgresMetadataStore(postgres_url)
    assert again.schema_version() == len(pg_backend.MIGRATIONS)
    again.close()


def test_postgres_store_reconnects_after_losing_its_connection(postgres_server, postgres_url):
    import psycopg

    s = PostgresMetadataStore(postgres_url)
    s.dict_put("di-1", [(b"k", b"v")], 1.0, False, 0.0)
    pid = s.conn.info.backend_pid
    with postgres_server.admin() as admin:  # as if PostgreSQL restarted under the server
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        s.dict_get("di-1", b"k", 0.0)  # the call that finds the connection gone fails...
    assert s.dict_get("di-1", b"k", 0.0) == b"v"  # ...and the next one reconnects
    assert s.conn.info.backend_pid != pid
    s.close()


# ---------- selecting the store ----------


def test_redact_url():
    assert redact_url("postgresql://nodal:s3cret@db.example:5433/nodal") == "postgresql://nodal@db.example:5433/nodal"
    assert redact_url("postgresql://nodal@127.0.0.1/x") == "postgresql://nodal@127.0.0.1/x"
    assert redact_url("postgresql://[::1]:5432/x?user=n&password=p&sslmode=require") == (
        "postgresql://[::1]:5432/x?user=n&sslmode=require")


def test_open_metadata_store_says_what_is_wrong(postgres_server, tmp_path, monkeypatch):
    from nodal.store import factory

    monkeypatch.delenv("NODAL_DATABASE_URL", raising=False)
    store = factory.open_metadata_store(sqlite_path=tmp_path / "n.db")
    assert isinstance(store, SqliteMetadataStore)
    store.close()

    good = postgres_server.new_database()
    monkeypatch.setenv("NODAL_DATABASE_URL", good)
    store = factory.open_metadata_store()
    assert isinstance(store, PostgresMetadataStore)
    store.close()

    port = postgres_server.port
    with postgres_server.admin() as admin:  # a user that may log in but not create tables (PostgreSQL 15+)
        admin.execute("DROP ROLE IF EXISTS limited_user")
        admin.execute("CREATE ROLE limited_user LOGIN PASSWORD 'limited-pw'")
    fresh = postgres_server.new_database()
    refused = f"postgresql://nodal:pw@127.0.0.1:{_closed_port()}/nodal"
    cases = {
        good.replace("nodal:nodal-test-password", "limited_user:limited-pw"): "denied access: permission denied",
        fresh.replace("nodal:nodal-test-password", "limited_user:limited-pw"): "denied access: permission denied",
        refused: "connection refused — is PostgreSQL running",
        f"postgresql://nodal:wrong@127.0.0.1:{port}/postgres": "password authentication failed",
        postgres_server.url("no_such_db"): 'database "no_such_db" does not exist',
        "mysql://nodal:pw@127.0.0.1/nodal": "must be a PostgreSQL URL",
    }
    for url, expected in cases.items():
        with pytest.raises(SystemExit) as err:
            factory.open_metadata_store(url)
        message = str(err.value)
        assert expected in message, message
        assert redact_url(url) in message, message
        for password in ("pw@", "wrong", "nodal-test-password", "limited-pw"):
            assert password not in message, message


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------- a server on PostgreSQL ----------


@pytest.fixture(scope="module")
def pg_server(require_containers, postgres_server, tmp_path_factory):
    """A private Nodal server whose metadata lives in PostgreSQL (its own database)."""
    from conftest import PrivateServer

    url = postgres_server.new_database("nodal_server")
    server = PrivateServer(tmp_path_factory.mktemp("nodal-pg-home"), env={"NODAL_DATABASE_URL": url})
    server.start()
    yield server
    server.stop()


def test_server_on_postgres_keeps_apps_dicts_and_queues_across_a_restart(pg_server):
    from apps.lifecycle_app import add_one, app

    import modal
    from modal.runner import deploy_app

    assert not (pg_server.home / "nodal.db").exists()  # no SQLite store on the side
    client = pg_server.client()
    with app.run(client=client):
        assert add_one.remote(1) == 2
    deploy_app(app, client=client)
    d = modal.Dict.from_name("pg-dict", create_if_missing=True, client=client)
    d["k"] = {"v": 1}
    d.put("ttl-free", 2)
    q = modal.Queue.from_name("pg-queue", create_if_missing=True, client=client)
    q.put_many(["first", "second"])
    q.put("p-item", partition="p")

    pg_server.restart()

    client = pg_server.client()
    assert modal.Function.from_name("nodal-test-deploy", "add_one", client=client).remote(41) == 42
    d = modal.Dict.from_name("pg-dict", client=client)
    assert d["k"] == {"v": 1} and d["ttl-free"] == 2 and len(d) == 2
    q = modal.Queue.from_name("pg-queue", client=client)
    assert q.len(total=True) == 3
    assert q.get() == "first" and q.get(partition="p") == "p-item"
    q.put("third")  # FIFO order continues after the restart
    assert q.get_many(5) == ["second", "third"]
    assert not (pg_server.home / "nodal.db").exists()


def test_server_start_fails_clearly_on_a_bad_database_url(tmp_path):
    from conftest import PrivateServer

    url = f"postgresql://nodal:hunter2@127.0.0.1:{_closed_port()}/nodal"
    server = PrivateServer(tmp_path / "home", env={"NODAL_DATABASE_URL": url})
    with pytest.raises(RuntimeError, match="exited with code 1; see ") as err:
        server.start()
    log = open(str(err.value).rsplit("see ", 1)[1].strip()).read()  # the error names the server's log
    assert f"cannot connect to the metadata database {redact_url(url)}: connection refused" in log, log
    assert "NODAL_DATABASE_URL" in log and "hunter2" not in log


def test_server_on_postgres_keeps_schedules_across_a_restart(pg_server, wait_until):
    import psycopg
    from apps.schedule_app import app, tick

    import modal
    from modal._utils.async_utils import run_sync
    from modal.runner import deploy_app

    client = pg_server.client()
    deploy_app(app, client=client)
    fires = modal.Dict.from_name("nodal-test-schedule-fires", create_if_missing=True, client=client)
    wait_until(lambda: fires.len() >= 1, timeout=60, what="a scheduled run of the deployed app")

    pg_server.restart()

    client = pg_server.client()
    fires = modal.Dict.from_name("nodal-test-schedule-fires", client=client)
    seen = fires.len()
    wait_until(lambda: fires.len() >= seen + 2, timeout=60, what="scheduled runs after the restart")
    with psycopg.connect(pg_server.env["NODAL_DATABASE_URL"]) as conn:  # kept in PostgreSQL
        (last_fire,) = conn.execute("SELECT last_fire FROM schedule_state WHERE function_id = %s",
                                    (tick.object_id,)).fetchone()
    assert last_fire is not None
    run_sync(client.stub.AppStop(api_pb2.AppStopRequest(app_id=app.app_id)))
