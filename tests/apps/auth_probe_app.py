"""A function that tries what a container's credential must not do, and reports each answer."""

import os

import modal

app = modal.App("auth-probe")


def _attempt(out: dict, name: str, call) -> None:
    import grpc

    try:
        call()
        out[name] = "OK"
    except grpc.RpcError as err:
        out[name] = f"{err.code().name}: {err.details()}"


@app.function()
def probe(foreign_secret_id: str) -> dict:
    import grpc

    from nodal.proto import api_pb2
    from nodal.proto.lazy_stub import LazyNodalStub

    me = os.environ["NODAL_CONTAINER_ID"]
    creds = (("x-nodal-container-id", me), ("x-nodal-container-token", os.environ["NODAL_CONTAINER_TOKEN"]))
    out: dict = {"credential": [me, os.environ["NODAL_CONTAINER_TOKEN"]]}
    with grpc.insecure_channel(f"unix://{os.environ['NODAL_SERVER_SOCKET']}") as channel:
        stub, bare = LazyNodalStub(channel, metadata=creds), LazyNodalStub(channel)
        who = stub.WhoAmI(api_pb2.Empty())
        out["whoami"] = [who.kind, who.workspace]
        _attempt(out, "no_credential", lambda: bare.Hello(api_pb2.HelloRequest()))
        _attempt(out, "token_create", lambda: stub.TokenCreate(api_pb2.TokenCreateRequest()))
        _attempt(out, "app_stop", lambda: stub.AppStop(api_pb2.AppStopRequest(name="auth-probe")))
        _attempt(out, "deploy", lambda: stub.AppCreate(api_pb2.AppCreateRequest(name="evil")))
        _attempt(out, "secret_change", lambda: stub.SecretNamedCreate(api_pb2.SecretNamedCreateRequest(
            name="planted", env={"A": "1"})))
        _attempt(out, "foreign_secret", lambda: stub.SandboxCreate(api_pb2.SandboxCreateRequest(
            secret_ids=[foreign_secret_id])))
        _attempt(out, "stop_container", lambda: stub.ContainerStop(api_pb2.ContainerStopRequest(container_id=me)))
        _attempt(out, "other_container", lambda: stub.VolumeCommit(api_pb2.VolumeCommitRequest(
            container_id="ta-" + "0" * 24)))
        _attempt(out, "hello", lambda: stub.Hello(api_pb2.HelloRequest()))
    return out
