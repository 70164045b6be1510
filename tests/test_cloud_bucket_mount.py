"""modal.CloudBucketMount against a real S3 API server (moto's, on loopback) and real containers."""

from __future__ import annotations

import asyncio
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
