"""The S3-compatible blob store against a real S3 API server (moto's, on loopback, checking
credentials), and a Nodal server whose code, payloads and volume files live in a bucket."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import textwrap
import uuid

import pytest
from conftest import TESTS_DIR, PrivateServer
from conftest_s3 import MotoS3

from nodal.store.blobs.s3 import BlobStoreConfigError, S3BlobStore

BUCKET = "nodal-blobs"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = MotoS3.start(tmp_path_factory.mktemp("moto"))
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(s3, monkeypatch):
    """The standard AWS variables, as a server would have them."""
    for k, v in s3.env(f"s3://{BUCKET}").items():
        monkeypatch.setenv(k, v)
    return s3


def _store(s3, tmp_path, prefix: str = "") -> S3BlobStore:
    url = f"s3://{BUCKET}/{prefix}" if prefix else f"s3://{BUCKET}"
    return S3BlobStore(url, tmp_path / f"cache-{uuid.uuid4().hex[:6]}", endpoint_url=s3.endpoint)


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_put_has_get_round_trip(aws_env, tmp_path):
    prefix = f"rt-{uuid.uuid4().hex[:8]}"
    writer = _store(aws_env, tmp_path, prefix)
    data = b"hello blob store " + os.urandom(100)
    sha = writer.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert writer.has(sha) and writer.get(sha) == data
    assert _keys(aws_env, prefix) == [f"{prefix}/{sha}"]  # content-addressed under the prefix
    assert aws_env.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{sha}")["Body"].read() == data

    reader = _store(aws_env, tmp_path, prefix)  # another machine: nothing cached yet
    assert not reader.cache.has(sha)
    assert reader.has(sha)
    assert reader.get(sha) == data
    assert reader.path(sha).read_bytes() == data and reader.path(sha).parent.parent == reader.root

    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not reader.has(missing)
    with pytest.raises(KeyError):
        reader.get(missing)
    with pytest.raises(KeyError):
        reader.get("not-a-digest")
    assert not list(reader.root.rglob(".tmp-*"))  # a failed download leaves no partial file


def test_puts_are_idempotent(aws_env, tmp_path):
    prefix = f"idem-{uuid.uuid4().hex[:8]}"
    a, b = _store(aws_env, tmp_path, prefix), _store(aws_env, tmp_path, prefix)
    uploads: list[str] = []
    for store in (a, b):
        for op in ("PutObject", "CreateMultipartUpload"):
            store.client.meta.events.register(f"before-call.s3.{op}", lambda model, **_: uploads.append(model.name))
    small, large = os.urandom(1000), os.urandom(2 * 1024 * 1024)
    first, big = a.put(small), a.put(large)
    assert uploads == ["PutObject", "PutObject"]
    assert a.put(small) == first and a.put(large) == big  # cached here: the bucket is not asked
    assert b.put(large) == big  # not cached there; found in the bucket, not uploaded again
    assert b.put(small) == first  # small: rewritten (same key, same bytes) rather than asked about
    assert uploads == ["PutObject", "PutObject", "PutObject"]
    assert sorted(_keys(aws_env, prefix)) == sorted([f"{prefix}/{first}", f"{prefix}/{big}"])
    assert a.put(b"") == hashlib.sha256(b"").hexdigest() and b.get(hashlib.sha256(b"").hexdigest()) == b""


def test_large_blobs_go_in_parts(aws_env, tmp_path):
    prefix = f"big-{uuid.uuid4().hex[:8]}"
    data = os.urandom(40 * 1024 * 1024)
    sha = _store(aws_env, tmp_path, prefix).put(data)
    head = aws_env.client().head_object(Bucket=BUCKET, Key=f"{prefix}/{sha}")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of 3 parts (16 + 16 + 8 MiB)
    assert _store(aws_env, tmp_path, prefix).get(sha) == data


def test_a_corrupted_object_is_refused(aws_env, tmp_path):
    prefix = f"bad-{uuid.uuid4().hex[:8]}"
    sha = hashlib.sha256(b"the real content").hexdigest()
    aws_env.client().put_object(Bucket=BUCKET, Key=f"{prefix}/{sha}", Body=b"something else")
    store = _store(aws_env, tmp_path, prefix)
    with pytest.raises(BlobStoreConfigError, match="does not match its sha256"):
        store.get(sha)
    assert not store.cache.has(sha)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_open_blob_store_says_what_is_wrong(aws_env, tmp_path, monkeypatch):
    from nodal.store.blobs.factory import open_blob_store

    monkeypatch.setenv("NODAL_HOME", str(tmp_path / "home"))
    store = open_blob_store(f"s3://{BUCKET}/ok")
    assert isinstance(store, S3BlobStore) and store.root == tmp_path / "home" / "blob-cache" / BUCKET / "ok"
    monkeypatch.setenv("NODAL_BLOB_URL", f"s3://{BUCKET}/ok")
    from nodal import paths

    assert paths.blobs_dir() == store.root  # image copy steps find the blobs this server stored
    monkeypatch.delenv("NODAL_BLOB_URL")

    with pytest.raises(SystemExit) as err:
        open_blob_store("s3://no-such-bucket/x")
    assert "the bucket 'no-such-bucket'" in str(err.value) and "does not exist" in str(err.value)
    assert aws_env.endpoint in str(err.value)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-wrong-secret")
    with pytest.raises(SystemExit) as err:
        open_blob_store(f"s3://{BUCKET}")
    assert "refused the credentials" in str(err.value) and "hunter2" not in str(err.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    with pytest.raises(SystemExit, match="refused the credentials"):
        open_blob_store(f"s3://{BUCKET}")

    monkeypatch.setenv("NODAL_S3_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(SystemExit, match=r"cannot reach the blob store s3://nodal-blobs at http://127\.0\.0\.1"):
        open_blob_store(f"s3://{BUCKET}")

    for bad in ("gs://bucket", "relative/dir", "s3://"):
        with pytest.raises(SystemExit, match="NODAL_BLOB_URL|names no bucket"):
            open_blob_store(bad)


def test_a_directory_url_is_the_blob_directory(tmp_path, monkeypatch):
    from nodal import paths
    from nodal.store.blobs.factory import open_blob_store
    from nodal.store.blobs.local_dir import LocalDirBlobStore

    shared = tmp_path / "shared-fs" / "blobs"
    monkeypatch.setenv("NODAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NODAL_BLOB_URL", str(shared))
    store = open_blob_store()
    assert isinstance(store, LocalDirBlobStore) and store.root == shared
    assert paths.blobs_dir() == shared  # image copy steps look there too
    sha = store.put(b"shared")
    assert open_blob_store(f"file://{shared}").get(sha) == b"shared"
    monkeypatch.delenv("NODAL_BLOB_URL")
    assert paths.blobs_dir() == tmp_path / "home" / "blobs"

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(SystemExit, match="cannot use the blob directory"):
            open_blob_store(str(locked))


# ---------- a Nodal server on the bucket ----------


@pytest.fixture(scope="module")
def s3_server(require_containers, s3, tmp_path_factory):
    server = PrivateServer(tmp_path_factory.mktemp("nodal-s3-home"), env=s3.env(f"s3://{BUCKET}/server"))
    server.start()
    yield server
    server.stop()


def test_a_server_keeps_code_payloads_and_volumes_in_the_bucket(s3, s3_server, tmp_path):
    data_file = tmp_path / "layer-file.bin"
    data_file.write_bytes(os.urandom(5000))
    prelude = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(TESTS_DIR)!r})
        os.environ["NODAL_TEST_BLOB_FILE"] = {str(data_file)!r}
        from apps import blob_store_app as a
        layer_file = open({str(data_file)!r}, "rb").read()
    """)
    proc = s3_server.python(prelude + textwrap.dedent("""
        data = os.urandom(3 * 1024 * 1024)  # over the inline limit: a blob each way
        with a.app.run():
            assert a.reverse.remote(data) == data[::-1]
            a.write.remote("greeting.txt", "hello from a bucket")
            print("read:", a.read.remote("greeting.txt"))
            assert a.copied_file.remote() == layer_file
    """), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "read: hello from a bucket" in proc.stdout

    keys = {k.rsplit("/", 1)[1] for k in _keys(s3, "server/")}
    app_sha = hashlib.sha256((TESTS_DIR / "apps" / "blob_store_app.py").read_bytes()).hexdigest()
    assert app_sha in keys  # the app's code
    assert hashlib.sha256(b"hello from a bucket").hexdigest() in keys  # the volume file's content
    assert hashlib.sha256(data_file.read_bytes()).hexdigest() in keys  # the image layer's file
    big = [k for k in _keys(s3, "server/")
           if s3.client().head_object(Bucket=BUCKET, Key=k)["ContentLength"] > 2 * 1024 * 1024]
    assert len(big) >= 2  # the argument and the result

    # The bucket is the source of truth: a server whose local cache is gone reads everything back,
    # and builds a new layer from a file the client did not upload again (the bucket has it).
    s3_server.stop()
    cache = s3_server.home / "blob-cache" / BUCKET / "server"
    shutil.rmtree(cache)
    s3_server.start()
    proc = s3_server.python(prelude + textwrap.dedent("""
        with a.app.run():
            print("read:", a.read.remote("greeting.txt"))
        with a.later_app.run():
            assert a.copied_file_again.remote() == layer_file
    """), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "read: hello from a bucket" in proc.stdout
    assert (cache / app_sha[:2] / app_sha).exists()


def test_server_start_fails_clearly_on_a_missing_bucket(s3, tmp_path):
    env = s3.env("s3://missing-bucket/p")
    server = PrivateServer(tmp_path / "home", env=env)
    with pytest.raises(RuntimeError, match="exited with code 1; see ") as err:
        server.start()
    log = open(str(err.value).rsplit("see ", 1)[1].strip()).read()
    assert "the bucket 'missing-bucket' of the blob store s3://missing-bucket/p at http://127.0.0.1" in log, log
    assert s3.key_secret not in log
