"""modal.CloudBucketMount against a real S3 API server (moto's, on loopback) and real containers."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError

BUCKET = "nodal-test-bucket"
SEED = {
    "data/": "",  # a "directory" marker object: not a file in the mount
    "data/a.txt": "alpha",
    "data/sub/b.txt": "beta",
    "other/x.txt": "outside the prefix",
    "models/m.bin": "weights",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 that checks credentials, with one IAM user and a seeded bucket."""
    import boto3

    work = tmp_path_factory.mktemp("s3")
    log_path = work / "moto.log"
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")  # the 3 IAM calls below; then auth is enforced
    moto = Path(sys.executable).parent / "moto_server"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", "0"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    try:
        from conftest import _wait_until

        found = _wait_until(lambda: re.search(r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text()),
                            30, "moto_server to listen")
        endpoint = found.group(1)
        admin = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap",
                     aws_secret_access_key="bootstrap")
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="nodal-test")
        iam.put_user_policy(UserName="nodal-test", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="nodal-test")["AccessKey"]
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        client.create_bucket(Bucket=BUCKET)
        for k, v in SEED.items():
            client.put_object(Bucket=BUCKET, Key=k, Body=v.encode())
        os.environ.update(NODAL_TEST_S3_ENDPOINT=endpoint, NODAL_TEST_S3_BUCKET=BUCKET,
                          NODAL_TEST_S3_KEY_ID=key["AccessKeyId"], NODAL_TEST_S3_KEY_SECRET=key["SecretAccessKey"])
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _contents(client) -> dict[str, str]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
    return out


@pytest.fixture(scope="module")
def bucket_app(s3, nodal_server):
    from apps.bucket_app import app

    with app.run():
        yield app


def test_reads_prefix_and_writes_back(s3, bucket_app):
    from apps.bucket_app import edit

    before = edit.remote({"new/out.txt": "made in a container", "sub/b.txt": "beta v2"}, ["a.txt"])
    # Only the objects under key_prefix, as files relative to it (the "data/" marker is no file).
    assert before == {"a.txt": "alpha", "sub/b.txt": "beta"}
    now = _contents(s3)
    assert now["data/new/out.txt"] == "made in a container"  # created: uploaded when the input finished
    assert now["data/sub/b.txt"] == "beta v2"  # changed: uploaded
    assert "data/a.txt" not in now  # deleted: deleted in the bucket
    assert now["other/x.txt"] == "outside the prefix" and now["models/m.bin"] == "weights"  # untouched
    # The same (warm) container keeps its view; an unchanged input uploads nothing new.
    assert edit.remote({}, []) == {"new/out.txt": "made in a container", "sub/b.txt": "beta v2"}
    assert _contents(s3) == now


def test_read_only_refuses_writes_and_uploads_nothing(s3, bucket_app):
    from apps.bucket_app import read_only_attempt

    before = _contents(s3)
    out = read_only_attempt.remote()
    assert out["seen"] == {k: v for k, v in before.items() if not k.endswith("/")}  # the whole bucket
    assert out["codes"] == {"create": out["erofs"], "remove": out["erofs"]}
    assert _contents(s3) == before


def test_cls_mounts_a_bucket(s3, bucket_app):
    from apps.bucket_app import Reader

    assert Reader().read.remote("m.bin") == "weights"


def test_wrong_credentials_fail_clearly(s3, bucket_app):
    from apps.bucket_app import with_wrong_credentials

    with pytest.raises(modal.exception.Error) as info:
        with_wrong_credentials.remote()
    message = str(info.value)
    assert "InvalidAccessKeyId" in message and BUCKET in message and "credentials" in message


def test_gcs_key_names_and_requester_pays(s3, tmp_path):
    """The server side on its own: GOOGLE_* HMAC key names work against an S3 API, with RequestPayer."""
    from nodal.proto import api_pb2
    from nodal.server.bucket_mounts import BucketMountService

    env = {"GOOGLE_ACCESS_KEY_ID": os.environ["NODAL_TEST_S3_KEY_ID"],
           "GOOGLE_ACCESS_KEY_SECRET": os.environ["NODAL_TEST_S3_KEY_SECRET"]}
    service = BucketMountService(tmp_path, lambda ids: env)
    spec = api_pb2.BucketMount(mount_path="/m", bucket_name=BUCKET, key_prefix="models/", secret_id="s",
                               bucket_endpoint_url=os.environ["NODAL_TEST_S3_ENDPOINT"], requester_pays=True)
    [(directory, path, read_only)] = asyncio.run(service.mount("c1", "tok", [spec]))
    assert (path, read_only) == ("/m", False)
    assert (directory / "m.bin").read_text() == "weights"
    (directory / "gcs.txt").write_text("via hmac keys")
    with pytest.raises(Exception, match="no running container"):
        asyncio.run(service.sync(api_pb2.BucketMountSyncRequest(container_id="c1", token="wrong")))
    asyncio.run(service.sync(api_pb2.BucketMountSyncRequest(container_id="c1", token="tok")))
    assert _contents(s3)["models/gcs.txt"] == "via hmac keys"
    service.release("c1")
    assert not directory.exists()
    s3.delete_object(Bucket=BUCKET, Key="models/gcs.txt")


def test_secret_without_keys_is_explained(tmp_path):
    from nodal.proto import api_pb2
    from nodal.server.bucket_mounts import BucketMountError, BucketMountService

    service = BucketMountService(tmp_path, lambda ids: {"OTHER": "x"})
    spec = api_pb2.BucketMount(mount_path="/m", bucket_name=BUCKET, secret_id="s")
    with pytest.raises(BucketMountError, match="AWS_ACCESS_KEY_ID"):
        asyncio.run(service.mount("c2", "tok", [spec]))
    assert not (tmp_path / "c2").exists()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(bucket_name="Bad_Upper"), "bucket_name"),
    (dict(bucket_name="ab"), "bucket_name"),
    (dict(bucket_name="ok-bucket", key_prefix="no-slash"), "key_prefix"),
    (dict(bucket_name="ok-bucket", key_prefix="/abs/"), "key_prefix"),
    (dict(bucket_name="ok-bucket", bucket_endpoint_url="ftp://x"), "bucket_endpoint_url"),
    (dict(bucket_name="ok-bucket", secret="not a secret"), "secret"),
    (dict(bucket_name="ok-bucket", oidc_auth_role_arn="arn:aws:iam::1:role/r"), "oidc_auth_role_arn"),
    (dict(bucket_name="ok-bucket", requester_pays=True), "requester_pays"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, fragment):
    with pytest.raises(InvalidError, match=fragment):
        modal.CloudBucketMount(**kwargs)


def test_bad_mount_path_is_refused(s3, nodal_server):
    app = modal.App("nodal-test-bucket-bad-path")

    @app.function(volumes={"/": modal.CloudBucketMount(BUCKET)}, serialized=True)
    def f():
        pass

    with pytest.raises(InvalidError, match="bucket mount path"):
        with app.run():
            pass


# ---------- sandboxes: volumes={"/path": CloudBucketMount} through the same service ----------


@pytest.fixture(scope="module")
def sandbox_app(s3, nodal_server, require_containers):
    return modal.App.lookup("nodal-test-bucket-sandbox", create_if_missing=True)


def _creds() -> modal.Secret:
    return modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": os.environ["NODAL_TEST_S3_KEY_ID"],
                                   "AWS_SECRET_ACCESS_KEY": os.environ["NODAL_TEST_S3_KEY_SECRET"]})


def _bucket_dir(sandbox_id: str) -> Path:
    return Path(os.environ["NODAL_HOME"]) / "bucket-mounts" / sandbox_id


def _run(sb, script: str):
    p = sb.exec("sh", "-c", script)
    p.wait()
    return p.returncode, p.stdout.read(), p.stderr.read()


def test_sandbox_reads_and_writes_a_bucket(s3, sandbox_app, wait_until):
    s3.put_object(Bucket=BUCKET, Key="sbx/in.txt", Body=b"from the bucket")
    s3.put_object(Bucket=BUCKET, Key="sbx/gone.txt", Body=b"to delete")
    outside = {k: v for k, v in _contents(s3).items() if not k.startswith("sbx/")}
    mount = modal.CloudBucketMount(BUCKET, bucket_endpoint_url=os.environ["NODAL_TEST_S3_ENDPOINT"],
                                   key_prefix="sbx/", secret=_creds())
    sb = modal.Sandbox.create(app=sandbox_app, volumes={"/bucket": mount})
    try:
        code, out, _ = _run(sb, "cat /bucket/in.txt; ls /bucket")
        assert code == 0 and out == "from the bucket" + "gone.txt\nin.txt\n"  # only what is under key_prefix
        assert _run(sb, "mkdir -p /bucket/out && printf made-here > /bucket/out/new.txt")[0] == 0
        # While the sandbox runs, its writes reach the bucket (the server uploads them every few seconds).
        wait_until(lambda: _contents(s3).get("sbx/out/new.txt") == "made-here", 30, "the upload of out/new.txt")
        assert _run(sb, "rm /bucket/gone.txt && printf last > /bucket/last.txt")[0] == 0
        assert _bucket_dir(sb.object_id).is_dir()
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    # When wait() returns, the last writes and deletions are in the bucket already: no polling.
    now = _contents(s3)
    assert {k: v for k, v in now.items() if k.startswith("sbx/")} == {
        "sbx/in.txt": "from the bucket", "sbx/out/new.txt": "made-here", "sbx/last.txt": "last"}
    assert {k: v for k, v in now.items() if not k.startswith("sbx/")} == outside  # other prefixes untouched
    assert not _bucket_dir(sb.object_id).exists()  # the sandbox's copy is released with it


def test_sandbox_entrypoint_writes_reach_the_bucket(s3, sandbox_app):
    """A sandbox that exits by itself: its output files are uploaded before wait() returns."""
    mount = modal.CloudBucketMount(BUCKET, bucket_endpoint_url=os.environ["NODAL_TEST_S3_ENDPOINT"],
                                   key_prefix="sbx-entry/", secret=_creds())
    sb = modal.Sandbox.create("sh", "-c", "echo result > /mnt/b/result.txt", app=sandbox_app,
                              volumes={"/mnt/b": mount})
    sb.wait()
    assert sb.returncode == 0
    assert _contents(s3)["sbx-entry/result.txt"] == "result\n"


def test_sandbox_read_only_bucket_refuses_writes(s3, sandbox_app):
    s3.put_object(Bucket=BUCKET, Key="sbx-ro/keep.txt", Body=b"keep")
    before = _contents(s3)
    mount = modal.CloudBucketMount(BUCKET, bucket_endpoint_url=os.environ["NODAL_TEST_S3_ENDPOINT"],
                                   key_prefix="sbx-ro/", secret=_creds(), read_only=True)
    sb = modal.Sandbox.create(app=sandbox_app, volumes={"/ro": mount})
    try:
        assert _run(sb, "cat /ro/keep.txt")[1] == "keep"
        code, _out, err = _run(sb, "echo x > /ro/new.txt")
        assert code != 0 and "Read-only file system" in err
        code, _out, err = _run(sb, "rm /ro/keep.txt")
        assert code != 0 and "Read-only file system" in err
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    assert _contents(s3) == before


def test_sandbox_bucket_with_volume_and_bad_input(s3, sandbox_app):
    endpoint = os.environ["NODAL_TEST_S3_ENDPOINT"]
    with pytest.raises(InvalidError, match="bucket mount path"):
        modal.Sandbox.create(app=sandbox_app, volumes={"/tmp": modal.CloudBucketMount(BUCKET)})
    with pytest.raises(InvalidError, match="modal.Volume or modal.CloudBucketMount"):
        modal.Sandbox.create(app=sandbox_app, volumes={"/x": "not a mount"})
    wrong = modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": "AKIANOTAREALKEY00000", "AWS_SECRET_ACCESS_KEY": "no"})
    with pytest.raises(modal.exception.Error) as info:
        modal.Sandbox.create(app=sandbox_app, volumes={"/b": modal.CloudBucketMount(
            BUCKET, bucket_endpoint_url=endpoint, secret=wrong)})
    assert "InvalidAccessKeyId" in str(info.value) and BUCKET in str(info.value)
    # A Volume and a bucket side by side in one sandbox.
    vol = modal.Volume.from_name("nodal-test-bucket-sandbox-vol", create_if_missing=True)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"in the volume"), "/v.txt")
    sb = modal.Sandbox.create(app=sandbox_app, volumes={
        "/vol": vol, "/b": modal.CloudBucketMount(BUCKET, bucket_endpoint_url=endpoint, key_prefix="models/",
                                                  secret=_creds(), read_only=True)})
    try:
        assert _run(sb, "cat /vol/v.txt; echo; cat /b/m.bin")[1] == "in the volume\nweights"
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)


def test_sandbox_create_rpc_validates_bucket_mounts(sandbox_app):
    """The server refuses malformed mounts a client did not make with CloudBucketMount."""
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    client = run_sync(_default_client())
    image_id = "im-unused"  # validation comes before the image is looked at
    for bad, fragment in [
        (api_pb2.BucketMount(mount_path="relative", bucket_name=BUCKET), "bucket mount path"),
        (api_pb2.BucketMount(mount_path="/b", bucket_name=""), "bucket_name"),
        (api_pb2.BucketMount(mount_path="/b", bucket_name=BUCKET, key_prefix="../x/"), "key_prefix"),
        (api_pb2.BucketMount(mount_path="/b", bucket_name=BUCKET, bucket_endpoint_url="file:///etc"),
         "bucket_endpoint_url"),
    ]:
        req = api_pb2.SandboxCreateRequest(app_id=sandbox_app.app_id, image_id=image_id, bucket_mounts=[bad])
        with pytest.raises(InvalidError, match=fragment):
            run_sync(client.stub.SandboxCreate(req))
