"""Cls.with_options / with_concurrency / with_batching: variants of a class in their own pools."""

from __future__ import annotations

import pytest

import modal
from modal._utils.async_utils import run_sync
from modal.exception import FunctionTimeoutError, InvalidError


@pytest.fixture(scope="module")
def options_app(nodal_server):
    from apps.cls_options_app import app

    with app.run():
        yield app


def test_timeout_override(options_app):
    from apps.cls_options_app import Service

    quick = Service.with_options(timeout=1)
    with pytest.raises(FunctionTimeoutError):
        quick().sleep.remote(3)
    assert Service().sleep.remote(1.5) == "woke"  # the plain class keeps its 300 s timeout
    assert quick().sleep.remote(0) == "woke"


def test_env_and_secrets_reach_the_container(options_app):
    from apps.cls_options_app import Service

    names = ["CLS_OPT_BASE", "CLS_OPT_MODE", "CLS_OPT_SECRET", "CLS_OPT_NEW"]
    assert Service().env.remote(names) == {
        "CLS_OPT_BASE": "base", "CLS_OPT_MODE": "plain",
        "CLS_OPT_SECRET": "class-secret", "CLS_OPT_NEW": None,
    }
    variant = Service.with_options(env={"CLS_OPT_MODE": "variant"}).with_options(
        secrets=[modal.Secret.from_dict({"CLS_OPT_NEW": "new-secret"})])
    assert variant(tag="x").env.remote(names) == {
        "CLS_OPT_BASE": "base",   # env overrides merge over the class's env
        "CLS_OPT_MODE": "variant",
        "CLS_OPT_SECRET": None,   # secrets= replaces the class's secrets, as in Modal
        "CLS_OPT_NEW": "new-secret",
    }
    # The original class and its instances are untouched.
    assert Service(tag="x").env.remote(names)["CLS_OPT_MODE"] == "plain"


def _volume_with(name: str, text: str):
    import io

    vol = modal.Volume.from_name(name, create_if_missing=True)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(text.encode()), "/note.txt")
    return vol


def test_volumes_override_mounts_over_the_class_by_path(options_app):
    """with_options(volumes=) mounts volumes in the variant's containers only; stacked overrides
    replace a mount at the same path."""
    import uuid

    from apps.cls_options_app import Service

    names = [f"cls-opt-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    first, second = _volume_with(names[0], "first"), _volume_with(names[1], "second")
    try:
        variant = Service.with_options(volumes={"/data": first})
        assert variant(tag="v").read.remote("/data/note.txt") == "first"
        assert Service(tag="v").read.remote("/data/note.txt") is None  # the class itself mounts none
        both = variant.with_options(volumes={"/more": second})
        assert [both().read.remote(p) for p in ("/data/note.txt", "/more/note.txt")] == ["first", "second"]
        swapped = variant.with_options(volumes={"/data": second})
        assert swapped().read.remote("/data/note.txt") == "second"
    finally:
        for name in names:
            modal.Volume.delete(name)


def test_with_concurrency_overlaps_inputs_in_one_container(options_app):
    from apps.cls_options_app import Service

    plain = list(Service.with_options(max_containers=1)().window.map([0.5] * 2))
    assert plain[1][0] >= plain[0][1] - 0.01 or plain[0][0] >= plain[1][1] - 0.01  # one at a time

    model = Service.with_options(max_containers=1).with_concurrency(max_inputs=4)()
    windows = list(model.window.map([1.0] * 4))
    assert len({w[2] for w in windows}) == 1  # one container ...
    assert max(w[0] for w in windows) < min(w[1] for w in windows)  # ... running all four at once


def test_with_batching_delivers_lists(options_app):
    from apps.cls_options_app import Batcher

    assert {size for _, size, _ in Batcher().sizes.map(range(4))} == {1}
    variant = Batcher.with_options(max_containers=1).with_batching(max_batch_size=4, wait_ms=500)
    out = list(variant().sizes.map(range(8)))
    assert [x for x, _, _ in out] == list(range(8))
    sizes = [size for _, size, _ in out]
    assert max(sizes) == 4 and all(1 <= s <= 4 for s in sizes)


def test_variants_have_their_own_pools(options_app):
    from apps.cls_options_app import Service

    base = Service()
    variant = Service.with_options(scaledown_window=10)()
    assert base.window.remote(0)[2] != variant.window.remote(0)[2]
    # The same options give the same pool, whichever Cls object they were set on.
    again = Service.with_options(scaledown_window=10)()
    assert again.window.remote(0)[2] == variant.window.remote(0)[2]
    base_id = run_sync(base._bound_ids())[1]
    variant_id = run_sync(variant._bound_ids())[1]
    assert base_id != variant_id and base_id.split("/")[0] == variant_id.split("/")[0]  # one class, two pools
    assert run_sync(again._bound_ids())[1] == variant_id


def test_update_autoscaler_acts_on_the_instance_pool(options_app, wait_until):
    from apps.cls_options_app import Service

    plain = Service(tag="autoscale")
    variant = Service.with_options(scaledown_window=10)(tag="autoscale")
    variant.update_autoscaler(min_containers=2)
    try:
        wait_until(lambda: variant.window.get_current_stats().num_total_runners == 2,
                   what="2 warm containers in the variant's pool")
        assert plain.window.get_current_stats().num_total_runners == 0
    finally:
        variant.update_autoscaler(min_containers=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda C: C.with_options(cpu=-1),
        lambda C: C.with_options(memory="lots"),
        lambda C: C.with_options(gpu="NOT-A-GPU"),
        lambda C: C.with_options(timeout=0),
        lambda C: C.with_options(retries="twice"),
        lambda C: C.with_options(max_containers=-1),
        lambda C: C.with_options(scaledown_window=1),
        lambda C: C.with_options(env={"A": 1}),
        lambda C: C.with_options(secrets=["not a secret"]),
        lambda C: C.with_options(volumes={"/data": "not a volume"}),
        lambda C: C.with_options(volumes={"data": modal.Volume.from_name("any")}),
        lambda C: C.with_options(volumes=["/data"]),
        lambda C: C.with_options(min_containers=3).with_options(max_containers=2),
        lambda C: C.with_concurrency(max_inputs=0),
        lambda C: C.with_concurrency(max_inputs=2, target_inputs=3),
        lambda C: C.with_batching(max_batch_size=0, wait_ms=10),
        lambda C: C.with_batching(max_batch_size=4, wait_ms=-1),
        lambda C: C.with_batching(max_batch_size=4, wait_ms=10).with_concurrency(max_inputs=2),
    ],
)
def test_invalid_options_raise_at_the_call(make):
    from apps.cls_options_app import Service

    with pytest.raises(InvalidError):
        make(Service)
    with pytest.raises(TypeError):
        Service.with_options(bogus=1)  # not an option of with_options


def test_with_options_returns_new_cls_and_stacks():
    from apps.cls_options_app import Service

    a = Service.with_options(cpu=2, timeout=10)
    b = a.with_options(timeout=20).with_concurrency(max_inputs=3)
    assert a is not Service and b is not a
    assert Service._overrides == {}
    assert a._overrides == {"cpu": (2.0, 0.0), "timeout": 10}
    assert b._overrides == {"cpu": (2.0, 0.0), "timeout": 20, "concurrency": (3, 3)}


def test_deprecated_aliases_map_to_new_names():
    from apps.cls_options_app import Service

    with pytest.warns(Warning, match="deprecated"):
        variant = Service.with_options(concurrency_limit=2, container_idle_timeout=30)
    assert variant._overrides == {"max_containers": 2, "scaledown_window": 30.0}


def test_overrides_persist_with_the_binding(private_server):
    """A bound id names its overrides on the server: after a restart the same id runs with them."""
    from pathlib import Path

    from modal.functions import Function

    tests_dir = str(Path(__file__).parent)
    deploy = (
        f"import sys; sys.path.insert(0, {tests_dir!r})\n"
        "from apps.cls_options_app import app\n"
        "from modal.runner import deploy_app\n"
        "deploy_app(app)\n"
    )
    proc = private_server.python(deploy)
    assert proc.returncode == 0, proc.stderr

    client = private_server.client()
    Service = modal.Cls.from_name("nodal-test-cls-options", "Service", client=client)
    quick = Service.with_options(timeout=1)(tag="persist")
    with pytest.raises(FunctionTimeoutError):
        quick.sleep.remote(3)
    bound_id = run_sync(quick._bound_ids())[1]

    private_server.restart()
    client = private_server.client()
    sleep = Function(None, "Service.sleep", method_name="sleep")
    sleep._hydrate(bound_id, client)  # the bound id alone, no new bind
    with pytest.raises(FunctionTimeoutError):
        sleep.remote(3)
    plain = modal.Cls.from_name("nodal-test-cls-options", "Service", client=client)(tag="persist")
    assert plain.sleep.remote(1.2) == "woke"
    # workspace=: the client's own finds it; another is not visible to this client
    own = modal.Cls.from_name("nodal-test-cls-options", "Service", workspace="default", client=client)
    assert own().sleep.remote(0) == "woke"
    other = modal.Cls.from_name("nodal-test-cls-options", "Service", workspace="elsewhere", client=client)
    with pytest.raises(modal.exception.NotFoundError, match="belongs to workspace 'default'"):
        other().sleep.remote(0)


def test_store_migrates_bound_params_and_keeps_overrides(tmp_path):
    import sqlite3

    from nodal.store.backends.sqlite import MIGRATIONS, SqliteMetadataStore
    from nodal.store.metadata import BoundFunctionRecord

    path = tmp_path / "meta.db"
    db = sqlite3.connect(str(path), isolation_level=None)
    db.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    db.execute("INSERT INTO bound_params VALUES (?,?,?)", ("fu-a/old", "fu-a", b"params"))
    db.close()

    store = SqliteMetadataStore(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.get_bound_params("fu-a/old") == BoundFunctionRecord("fu-a/old", "fu-a", b"params", b"")
        store.put_bound_params(BoundFunctionRecord("fu-a/new", "fu-a", b"p", b"\x3d\x00\x00\x80\x3f"))
        assert store.get_bound_params("fu-a/new").overrides == b"\x3d\x00\x00\x80\x3f"
        assert store.get_bound_params("fu-a/none") is None
    finally:
        store.close()


def test_apply_overrides_changes_only_what_is_set():
    from nodal.proto import api_pb2
    from nodal.server.apps import apply_overrides

    base = api_pb2.FunctionDef(tag="M.*", timeout=300, cpu=1, secret_ids=["st-a"], env={"A": "1", "B": "2"},
                               max_containers=5, batch_max_size=2, batch_wait_ms=10)
    o = api_pb2.FunctionOverrides(timeout=5, env={"B": "3"}, min_containers=0)
    o.concurrency.max_inputs = 4
    d = apply_overrides(base, o)
    assert (d.timeout, d.cpu, list(d.secret_ids), dict(d.env)) == (5, 1, ["st-a"], {"A": "1", "B": "3"})
    assert (d.max_containers, d.min_containers) == (5, 0)
    assert (d.max_concurrent_inputs, d.target_concurrent_inputs) == (4, 4)
    assert (d.batch_max_size, d.batch_wait_ms) == (2, 10)
    assert base.timeout == 300 and dict(base.env) == {"A": "1", "B": "2"}  # the base is untouched
    o = api_pb2.FunctionOverrides()
    o.secrets.SetInParent()  # an empty replacement list is still a replacement
    assert list(apply_overrides(base, o).secret_ids) == []


def test_server_validates_overrides(options_app):
    """The bind itself rejects overrides no SDK would send."""
    from apps.cls_options_app import Service

    from nodal.proto import api_pb2

    client, fid = run_sync(Service._service_ids())

    def bind(**fields):
        req = api_pb2.FunctionBindParamsRequest(function_id=fid, overrides=api_pb2.FunctionOverrides(**fields))
        return run_sync(client.stub.FunctionBindParams(req)).bound_function_id

    for bad in (dict(timeout=-1), dict(max_containers=-2), dict(min_containers=3, max_containers=2),
                dict(concurrency=api_pb2.FunctionOverrides.Concurrency(max_inputs=0)),
                dict(batching=api_pb2.FunctionOverrides.Batching(max_batch_size=5000)),
                dict(env={"A=B": "x"})):
        with pytest.raises(InvalidError):
            bind(**bad)
    with pytest.raises(modal.exception.NotFoundError):
        bind(secrets=api_pb2.FunctionOverrides.Secrets(secret_ids=["st-doesnotexist"]))
    with pytest.raises(modal.exception.NotFoundError, match="does not exist"):
        bind(volumes=api_pb2.FunctionOverrides.Volumes(
            volume_mounts=[api_pb2.VolumeMount(mount_path="/data", volume_id="vo-doesnotexist")]))
    for path in ("relative", "/tmp", "/root", "/data/../etc"):
        with pytest.raises(InvalidError, match="volume mount path"):
            bind(volumes=api_pb2.FunctionOverrides.Volumes(
                volume_mounts=[api_pb2.VolumeMount(mount_path=path, volume_id="vo-x")]))
    # Equal overrides give equal ids, however the message was built; no overrides keep the plain id.
    a = bind(env={"X": "1", "Y": "2"}, timeout=5)
    assert a == bind(timeout=5, env={"Y": "2", "X": "1"}) and a != bind(timeout=6)
    assert bind() == run_sync(client.stub.FunctionBindParams(
        api_pb2.FunctionBindParamsRequest(function_id=fid))).bound_function_id
