"""AppPublish checks each function's CloudBucketMount specs, so a raw client (not only
modal.CloudBucketMount) gets InvalidError at deploy time instead of a container that can't start."""

from __future__ import annotations

import grpc
import pytest

from nodal import paths
from nodal.proto import api_pb2, api_pb2_grpc

NEVER_BUILT = "im-" + "0" * 24  # checked after the mounts: a spec that passes gets "never built"


@pytest.fixture
def stub(nodal_server):
    channel = grpc.insecure_channel(f"unix://{paths.socket_path()}")  # the owner: no credentials
    try:
        yield api_pb2_grpc.NodalStub(channel)
    finally:
        channel.close()


def _publish(stub, app_id: str, *mounts: api_pb2.BucketMount) -> grpc.RpcError:
    fn = api_pb2.FunctionDef(tag="f", module_name="m", qualname="f", image_id=NEVER_BUILT, bucket_mounts=mounts)
    with pytest.raises(grpc.RpcError) as err:
        stub.AppPublish(api_pb2.AppPublishRequest(app_id=app_id, functions=[fn]), timeout=30)
    return err.value


BAD = [
    (api_pb2.BucketMount(mount_path="relative", bucket_name="b"), "must be an absolute path"),
    (api_pb2.BucketMount(mount_path="/tmp", bucket_name="b"), "must be an absolute path"),
    (api_pb2.BucketMount(mount_path="/data/../etc", bucket_name="b"), "must be an absolute path"),
    (api_pb2.BucketMount(mount_path="/data", bucket_name=""), "invalid bucket_name"),
    (api_pb2.BucketMount(mount_path="/data", bucket_name="a/b"), "invalid bucket_name"),
    (api_pb2.BucketMount(mount_path="/data", bucket_name="b", key_prefix="no-slash"), "invalid key_prefix"),
    (api_pb2.BucketMount(mount_path="/data", bucket_name="b", bucket_endpoint_url="ftp://x"),
     "invalid bucket_endpoint_url"),
]


@pytest.mark.parametrize(("mount", "why"), BAD, ids=[why.split()[-1] + str(i) for i, (_, why) in enumerate(BAD)])
def test_bad_bucket_mount_specs_are_refused_at_publish(stub, mount, why):
    app_id = stub.AppCreate(api_pb2.AppCreateRequest(state=api_pb2.APP_STATE_EPHEMERAL), timeout=30).app_id
    try:
        err = _publish(stub, app_id, mount)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        assert why in err.details() and "function 'f'" in err.details(), err.details()
    finally:
        stub.AppStop(api_pb2.AppStopRequest(app_id=app_id), timeout=30)


def test_two_mounts_at_one_path_are_refused_and_good_specs_pass(stub):
    app_id = stub.AppCreate(api_pb2.AppCreateRequest(state=api_pb2.APP_STATE_EPHEMERAL), timeout=30).app_id
    try:
        good = api_pb2.BucketMount(mount_path="/data", bucket_name="b", key_prefix="p/",
                                   bucket_endpoint_url="http://127.0.0.1:9")
        err = _publish(stub, app_id, good, good)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "two bucket mounts" in err.details()
        err = _publish(stub, app_id, good)  # passes the mount checks, then fails on the image
        assert err.code() == grpc.StatusCode.NOT_FOUND and "never built" in err.details(), err.details()
    finally:
        stub.AppStop(api_pb2.AppStopRequest(app_id=app_id), timeout=30)


def test_the_sdk_client_gets_invalid_error(nodal_server):
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from modal.exception import InvalidError

    async def publish() -> None:
        client = await _default_client()
        created = await client.stub.AppCreate(api_pb2.AppCreateRequest(state=api_pb2.APP_STATE_EPHEMERAL))
        fn = api_pb2.FunctionDef(tag="f", module_name="m", qualname="f", image_id=NEVER_BUILT,
                                 bucket_mounts=[api_pb2.BucketMount(mount_path="/", bucket_name="b")])
        try:
            await client.stub.AppPublish(api_pb2.AppPublishRequest(app_id=created.app_id, functions=[fn]))
        finally:
            await client.stub.AppStop(api_pb2.AppStopRequest(app_id=created.app_id))

    with pytest.raises(InvalidError, match="bucket mount path '/'"):
        run_sync(publish())
