"""Remote access: tokens, workspaces, container credentials and abuse limits, over TCP+TLS.

One real server for the module listens on its unix sockets and on a loopback TLS port, with
low limits so that the limit tests are quick. Requests are made with raw gRPC stubs, so each
test controls exactly which credentials are sent."""

from __future__ import annotations

import asyncio
import socket
import stat
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from nodal.proto import api_pb2
from nodal.proto.lazy_stub import LazyNodalStub
from nodal.server.auth import scope

RATE = 200
STREAMS = 4
MAX_REQUEST = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server(require_containers, tmp_path_factory):
    from conftest import PrivateServer

    port = _free_port()
    server = PrivateServer(tmp_path_factory.mktemp("nodal-auth"), env={
        "NODAL_LISTEN": f"127.0.0.1:{port}", "NODAL_RATE_LIMIT": str(RATE), "NODAL_MAX_STREAMS": str(STREAMS),
        "NODAL_MAX_REQUEST_BYTES": str(MAX_REQUEST),
    })
    server.start()
    server.port = port
    yield server
    server.stop()


def _md(token_id: str, secret: str) -> tuple:
    return (("x-modal-token-id", token_id), ("x-modal-token-secret", secret))


class Conn:
    """A sync stub on the TLS port (or a unix socket) with fixed credentials."""

    def __init__(self, server, token: tuple[str, str] | None = None, unix: str = "") -> None:
        if unix:
            self.channel = grpc.insecure_channel(f"unix://{server.home / unix}")
        else:
            ca = (server.home / "tls" / "ca.pem").read_bytes()
            self.channel = grpc.secure_channel(f"localhost:{server.port}", grpc.ssl_channel_credentials(ca))
        self.stub = LazyNodalStub(self.channel, metadata=_md(*token) if token else ())

    def __getattr__(self, name):
        return getattr(self.stub, name)

    def close(self) -> None:
        self.channel.close()


def _admin(server) -> tuple[str, str]:
    data = tomllib.loads((server.home / "initial-admin-token").read_text())
    return data["token_id"], data["token_secret"]


def _refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == code, info.value.details()
    return info.value.details()


def _new_token(server, **fields) -> tuple[str, str]:
    admin = Conn(server, _admin(server))
    try:
        r = admin.TokenCreate(api_pb2.TokenCreateRequest(**fields))
    finally:
        admin.close()
    return r.token_id, r.token_secret


def test_every_id_field_of_every_request_is_scoped():
    """A new RPC naming objects by id must be taught to scope.py (or declared unscoped)."""
    unknown = set()

    def walk(md, seen):
        if md.full_name in seen:
            return
        seen.add(md.full_name)
        for f in md.fields:
            if f.message_type is not None:
                walk(f.message_type, seen)
            elif (f.name.endswith("_id") or f.name.endswith("_ids")) and f.name not in scope.ID_FIELDS:
                if f.name not in scope.UNSCOPED_ID_FIELDS:
                    unknown.add(f"{md.name}.{f.name}")

    for request in scope.request_types():
        walk(request, set())
    assert not unknown, f"teach nodal/server/auth/scope.py these id fields: {sorted(unknown)}"


def test_sockets_and_credentials_files_are_owner_only(tls_server):
    for name in ("server.sock", "containers.sock", "initial-admin-token", "tls/ca-key.pem", "tls/server-key.pem"):
        mode = stat.S_IMODE((tls_server.home / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} has mode {mode:o}"


def test_calls_without_a_valid_token_are_refused(tls_server):
    anonymous = Conn(tls_server)
    details = _refused(lambda: anonymous.Hello(api_pb2.HelloRequest()), grpc.StatusCode.UNAUTHENTICATED)
    assert "modal token set" in details
    wrong = Conn(tls_server, (_admin(tls_server)[0], "as-" + "0" * 48))
    details = _refused(lambda: wrong.AppList(api_pb2.AppListRequest()), grpc.StatusCode.UNAUTHENTICATED)
    assert "not valid" in details
    assert "as-000" not in details  # the secret sent is never echoed
    unknown = Conn(tls_server, ("ak-" + "1" * 24, "as-" + "1" * 48))
    _refused(lambda: unknown.Hello(api_pb2.HelloRequest()), grpc.StatusCode.UNAUTHENTICATED)
    for c in (anonymous, wrong, unknown):
        c.close()


def test_a_revoked_token_is_refused_at_once(tls_server):
    token = _new_token(tls_server, user="carol", label="laptop")
    conn = Conn(tls_server, token)
    assert conn.WhoAmI(api_pb2.Empty()).user == "carol"
    admin = Conn(tls_server, _admin(tls_server))
    listed = {t.token_id: t for t in admin.TokenList(api_pb2.TokenListRequest()).tokens}
    assert listed[token[0]].label == "laptop" and not listed[token[0]].revoked_at
    admin.TokenRevoke(api_pb2.TokenRevokeRequest(token_id=token[0]))
    details = _refused(lambda: conn.WhoAmI(api_pb2.Empty()), grpc.StatusCode.UNAUTHENTICATED)
    assert "revoked" in details
    # the table holds only a hash of the secret (SQLite's files, or PostgreSQL's rows)
    from conftest_postgres import server_database_url, stored_bytes

    db = stored_bytes(tls_server.home, server_database_url(tls_server))
    assert db
    assert token[1].encode() not in db
    events = [(e.action, e.target) for e in admin.AuditList(api_pb2.AuditListRequest()).events]
    assert ("token.create", token[0]) in events and ("token.revoke", token[0]) in events
    conn.close()
    admin.close()


def test_a_member_cannot_mint_admin_tokens_or_rotate_keys(tls_server):
    member = Conn(tls_server, _new_token(tls_server, user="dave"))
    _refused(lambda: member.TokenCreate(api_pb2.TokenCreateRequest(admin=True)), grpc.StatusCode.UNAUTHENTICATED)
    _refused(lambda: member.TokenCreate(api_pb2.TokenCreateRequest(workspace="elsewhere")),
             grpc.StatusCode.UNAUTHENTICATED)
    _refused(lambda: member.SecretKeyRotate(api_pb2.Empty()), grpc.StatusCode.UNAUTHENTICATED)
    _refused(lambda: member.AuditList(api_pb2.AuditListRequest()), grpc.StatusCode.UNAUTHENTICATED)
    own = member.TokenCreate(api_pb2.TokenCreateRequest(label="second"))  # more tokens for oneself: fine
    assert own.user == "dave" and not own.admin
    member.close()


def test_workspaces_do_not_see_each_other(tls_server):
    owner = Conn(tls_server, unix="server.sock")
    mine = owner.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, name="shared-name", create_if_missing=True)).object_id
    bob = Conn(tls_server, _new_token(tls_server, workspace="team-b", user="bob", admin=True))
    assert bob.WhoAmI(api_pb2.Empty()).workspace == "team-b"
    # by id: as if it did not exist
    details = _refused(lambda: bob.DictLen(api_pb2.DictLenRequest(dict_id=mine)), grpc.StatusCode.NOT_FOUND)
    assert "shared-name" not in details
    # by name: team-b gets its own object of that name
    theirs = bob.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, name="shared-name", create_if_missing=True)).object_id
    assert theirs != mine
    listed = bob.DataObjectList(api_pb2.DataObjectListRequest(kind=api_pb2.DATA_OBJECT_KIND_DICT)).objects
    assert [(o.object_id, o.environment_name) for o in listed] == [(theirs, "main")]
    own_list = owner.DataObjectList(api_pb2.DataObjectListRequest(kind=api_pb2.DATA_OBJECT_KIND_DICT)).objects
    assert theirs not in {o.object_id for o in own_list}
    # environments, apps and tokens are per workspace too
    bob.EnvironmentCreate(api_pb2.EnvironmentCreateRequest(name="staging"))
    envs = {e.name for e in owner.EnvironmentList(api_pb2.Empty()).environments}
    assert "staging" not in envs and not any("/" in e for e in envs)
    assert {e.name for e in bob.EnvironmentList(api_pb2.Empty()).environments} == {"main", "staging"}
    owner_tokens = {t.token_id for t in owner.TokenList(api_pb2.TokenListRequest()).tokens}
    assert not {t.token_id for t in bob.TokenList(api_pb2.TokenListRequest()).tokens} & owner_tokens
    _refused(lambda: bob.EnvironmentCreate(api_pb2.EnvironmentCreateRequest(name="a/b")),
             grpc.StatusCode.INVALID_ARGUMENT)
    _refused(lambda: bob.DataObjectList(api_pb2.DataObjectListRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, environment_name="main/x")), grpc.StatusCode.INVALID_ARGUMENT)
    owner.close()
    bob.close()


def test_a_container_credential_is_scoped_to_its_app_and_lifetime(tls_server, wait_until):
    owner = Conn(tls_server, unix="server.sock")
    foreign = owner.SecretNamedCreate(api_pb2.SecretNamedCreateRequest(name="not-for-probe", env={"K": "v"}))
    probe_src = "\n".join([
        "import json, sys",
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})",
        "from apps.auth_probe_app import app, probe",
        "with app.run():",
        f"    print('RESULT' + json.dumps(probe.remote({foreign.secret_id!r})))",
    ])
    run = tls_server.python(probe_src, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    out = json.loads(run.stdout.split("RESULT", 1)[1])
    assert out["whoami"] == ["container", "default"]
    assert out["hello"] == "OK"
    assert out["no_credential"].startswith("UNAUTHENTICATED"), out  # the containers' socket is not trusted
    for forbidden in ("token_create", "app_stop", "deploy", "secret_change", "stop_container", "other_container",
                      "foreign_secret"):
        assert out[forbidden].startswith("UNAUTHENTICATED"), (forbidden, out[forbidden])
    # once the container is gone, so is its credential
    container_id, token = out["credential"]
    channel = grpc.insecure_channel(f"unix://{tls_server.home / 'containers.sock'}")
    creds = (("x-nodal-container-id", container_id), ("x-nodal-container-token", token))
    stub = LazyNodalStub(channel, metadata=creds)

    def refused() -> bool:
        try:
            stub.Hello(api_pb2.HelloRequest())
        except grpc.RpcError as err:
            return err.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    wait_until(refused, timeout=60, what="the stopped container's credential to be refused")
    channel.close()
    owner.close()


def test_rate_limit_refuses_a_flood_and_spares_the_owner(tls_server):
    flood = Conn(tls_server, _new_token(tls_server, user="flood"))

    def hello(_: int) -> tuple[str, str]:
        try:
            flood.Hello(api_pb2.HelloRequest())
            return "OK", ""
        except grpc.RpcError as err:
            return err.code().name, err.details()

    # From 16 threads at once, so that the flood outruns the refill (RATE a second) however slow
    # this machine is at the moment: one call at a time can take longer than 1/RATE s.
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(hello, range(RATE * 10)))
    refused = [details for code, details in results if code == "RESOURCE_EXHAUSTED"]
    assert refused, f"{len(results)} calls, none refused"
    assert all("too many requests" in details for details in refused), refused[:3]
    assert {code for code, _ in results} <= {"OK", "RESOURCE_EXHAUSTED"}, results[:5]
    owner = Conn(tls_server, unix="server.sock")
    for _ in range(RATE * 3):
        owner.Hello(api_pb2.HelloRequest())
    owner.close()
    flood.close()


def test_oversized_requests_are_refused(tls_server):
    from modal.client import translate_rpc_error
    from modal.exception import RequestSizeError

    admin = Conn(tls_server, _admin(tls_server))
    with pytest.raises(grpc.RpcError) as info:
        admin.BlobPut(api_pb2.BlobPutRequest(data=b"x" * (MAX_REQUEST + 1)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    async def aio_put():
        ca = (tls_server.home / "tls" / "ca.pem").read_bytes()
        async with grpc.aio.secure_channel(f"localhost:{tls_server.port}", grpc.ssl_channel_credentials(ca)) as ch:
            stub = LazyNodalStub(ch, metadata=_md(*_admin(tls_server)))
            try:
                await stub.BlobPut(api_pb2.BlobPutRequest(data=b"x" * (MAX_REQUEST + 1)))
            except grpc.aio.AioRpcError as err:
                return translate_rpc_error(err)

    assert isinstance(asyncio.run(aio_put()), RequestSizeError)
    admin.Hello(api_pb2.HelloRequest())  # and the server goes on serving
    admin.close()


def test_concurrent_streams_per_token_are_bounded(tls_server):
    token = _new_token(tls_server, user="streamer")

    async def main():
        ca = (tls_server.home / "tls" / "ca.pem").read_bytes()
        async with grpc.aio.secure_channel(f"localhost:{tls_server.port}", grpc.ssl_channel_credentials(ca)) as ch:
            stub = LazyNodalStub(ch, metadata=_md(*token))
            open_calls = [stub.DataStream() for _ in range(STREAMS)]
            for call in open_calls:  # each answers, so each is open on the server
                await call.write(api_pb2.DataStreamRequest())
                await asyncio.wait_for(call.read(), 10)
            extra = stub.DataStream()
            try:
                await asyncio.wait_for(extra.read(), 10)
                code = "OK"
            except grpc.aio.AioRpcError as err:
                code = err.code().name
            for call in open_calls:
                call.cancel()
            # closed streams free their places
            again = stub.DataStream()
            await again.write(api_pb2.DataStreamRequest())
            for _ in range(100):
                try:
                    await asyncio.wait_for(again.read(), 10)
                    break
                except grpc.aio.AioRpcError:  # the server may not have seen the cancels yet
                    again = stub.DataStream()
                    await asyncio.sleep(0.05)  # polling (bounded) for the server to drop them
                    await again.write(api_pb2.DataStreamRequest())
            again.cancel()
            return code

    assert asyncio.run(main()) == "RESOURCE_EXHAUSTED"


def _framed_data_stream(server, token: tuple[str, str], method: str = "DataStream"):
    """A blocking stream on the server's framed TLS port (listen port + 1), where a token's
    streams run without the gate's wrapper (Dict and Queue ops answered in the socket's read
    callback), each message checked by the gate's StreamGuard."""
    from nodal.proto.blocking_stream import BlockingStream
    from nodal.proto.framing import TlsEndpoint, client_tls_context

    context = client_tls_context((server.home / "tls" / "ca.pem").read_bytes())
    return BlockingStream(TlsEndpoint("127.0.0.1", server.port + 1, context), method,
                          {"x-modal-token-id": token[0], "x-modal-token-secret": token[1]})


def _stream_error(stream, request):
    from nodal.proto.framing import StreamError

    with pytest.raises(StreamError) as info:
        for _ in range(10_000):
            stream.write(request)
            stream.read()
    return info.value


def test_framed_data_streams_are_checked_as_grpc_streams_are(tls_server, wait_until):
    """A token's Dict ops over the framed TLS port get the gRPC stream's checks: another
    workspace's objects do not exist for it, its messages are rate-limited, and its open
    streams are bounded (each ends with the same error as over gRPC)."""
    theirs = Conn(tls_server, _new_token(tls_server, workspace="team-framed", user="carol", admin=True))
    foreign = theirs.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, name="framed-secret", create_if_missing=True)).object_id
    theirs.close()
    token = _new_token(tls_server, user="framed")
    owner = Conn(tls_server, unix="server.sock")
    mine = owner.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, name="framed-mine", create_if_missing=True)).object_id
    owner.close()

    def get(dict_id: str) -> api_pb2.DataStreamRequest:
        return api_pb2.DataStreamRequest(ops=[api_pb2.DataOp(id=1, dict_get=api_pb2.DictGetRequest(
            dict_id=dict_id, key=b"k"))])

    stream = _framed_data_stream(tls_server, token)
    stream.write(get(mine))
    assert not stream.read().results[0].error_kind  # its own workspace's Dict: answered
    stream.write(get(foreign))
    err = _stream_error(stream, get(foreign))
    assert (err.code, err.kind) == ("NOT_FOUND", "NotFoundError"), err
    assert "framed-secret" not in str(err)

    flood = _framed_data_stream(tls_server, token)
    err = _stream_error(flood, get(mine))  # one at a time is enough: the burst is 2 s worth
    assert (err.code, err.kind) == ("RESOURCE_EXHAUSTED", "RateLimitError"), err
    assert "too many streamed messages" in str(err)

    bounded = _new_token(tls_server, user="framed-streams")
    streams = [_framed_data_stream(tls_server, bounded) for _ in range(STREAMS)]
    for s in streams:  # each answers, so each is open on the server
        s.write(api_pb2.DataStreamRequest())
        s.read()
    extra = _framed_data_stream(tls_server, bounded)
    err = _stream_error(extra, api_pb2.DataStreamRequest())
    assert (err.code, err.kind) == ("RESOURCE_EXHAUSTED", "RateLimitError"), err
    for s in streams:
        s.close()

    def reopened() -> bool:  # closed streams free their places once the server sees them go
        s = _framed_data_stream(tls_server, bounded)
        try:
            s.write(api_pb2.DataStreamRequest())
            s.read()
            return True
        except Exception:  # noqa: BLE001 - still counted: try again
            return False
        finally:
            s.close()

    wait_until(reopened, timeout=20)


def test_framed_call_streams_are_checked_as_grpc_streams_are(tls_server):
    """A token's CallStream over the framed TLS port runs its handler without the gate's wrapper,
    yet gets the same checks: its messages are rate-limited and its open streams bounded."""
    from nodal.proto.framing import StreamError

    put = api_pb2.CallStreamRequest(put=api_pb2.CallPutInputs(call_id="fc-00000000000000aa", function_id="fu-nope",
                                                              last=True, inputs=[api_pb2.Input()]))
    flood = _framed_data_stream(tls_server, _new_token(tls_server, user="call-flood"), "CallStream")
    err = _stream_error(flood, put)  # each put answered (no such function) until over the rate
    assert (err.code, err.kind) == ("RESOURCE_EXHAUSTED", "RateLimitError"), err
    assert "too many streamed messages" in str(err)

    bounded = _new_token(tls_server, user="call-streams")
    streams = [_framed_data_stream(tls_server, bounded, "CallStream") for _ in range(STREAMS)]
    for s in streams:  # each answers (no such function), so each is open on the server
        s.write(put)
        assert s.read().error_call_id == put.put.call_id
    extra = _framed_data_stream(tls_server, bounded, "CallStream")
    with pytest.raises(StreamError) as info:
        extra.write(put)
        extra.read()
    assert (info.value.code, info.value.kind) == ("RESOURCE_EXHAUSTED", "RateLimitError"), info.value
    for s in streams:
        s.close()
