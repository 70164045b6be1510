"""The framed-stream sockets (nodal.proto.framing): the hot streams without gRPC.

A client on this host and every container's worker run CallStream, DataStream and WorkerStream
over a plain unix socket beside the gRPC one. These tests check what a user relies on: calls
work over it (and over gRPC when it is turned off), the sockets are private, the containers'
one needs a credential like the gRPC socket beside it, and bad bytes on it get an error status
while the server keeps serving.
"""

from __future__ import annotations

import socket
import stat
import struct

import pytest

from nodal.proto import api_pb2
from nodal.proto.framing import HALF_CLOSE, HEADER, MAX_FRAME, MESSAGE, OPEN, STATUS


def _frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), kind) + payload


def _status(sock: socket.socket) -> api_pb2.StreamStatus:
    """Read frames until the STATUS frame (deadline: the socket's timeout)."""
    buf = b""
    while True:
        while len(buf) >= 5:
            length, kind = HEADER.unpack_from(buf)
            if len(buf) < 5 + length:
                break
            payload, buf = buf[5:5 + length], buf[5 + length:]
            if kind == STATUS:
                return api_pb2.StreamStatus.FromString(payload)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("the server closed the stream without a STATUS frame")
        buf += chunk


def _raw(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(str(path))
    return sock


def _run(server, code: str) -> str:
    proc = server.python("import sys; sys.path.insert(0, 'tests')\n" + code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_calls_and_workers_ride_the_framed_sockets(private_server):
    home = private_server.home
    for name in ("server-streams.sock", "containers-streams.sock"):
        mode = (home / name).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, f"{name} must be the owner's only"
    out = _run(private_server, """
from apps.framed_app import app, square, transport
from modal.client import Client
from nodal.proto.framed_calls import FramedCall
with app.run() as running:
    assert [square.remote(i) for i in range(5)] == [0, 1, 4, 9, 16]
    assert list(square.map(range(100))) == [i * i for i in range(100)]
    facts = transport.remote()
    client = Client._default
    print(isinstance(client._call_stream._rpc, FramedCall), facts["streams_socket"], facts["grpc_loaded"])
""")
    framed, container_socket, grpc_loaded = out.splitlines()[-1].split()
    assert framed == "True", "the client's CallStream is not on the framed socket"
    assert container_socket == "/run/nodal/streams.sock"
    # The worker's stream does not need grpc, and `import modal` does not load it: a cold start
    # does not pay for it.
    assert grpc_loaded == "False"


def test_grpc_still_serves_the_streams_when_framed_is_off(private_server):
    proc = private_server.python(
        "import os, sys; os.environ['NODAL_STREAMS'] = 'grpc'; sys.path.insert(0, 'tests')\n"
        "from apps.framed_app import app, square\n"
        "from modal.client import Client\n"
        "with app.run():\n"
        "    assert list(square.map(range(20))) == [i * i for i in range(20)]\n"
        "    print(type(Client._default._call_stream._rpc).__module__)\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1].startswith("grpc")


def test_containers_framed_socket_needs_a_credential(private_server):
    path = private_server.home / "containers-streams.sock"
    for metadata in ({}, {"x-nodal-container-id": "ta-nope", "x-nodal-container-token": "bad"},
                     {"x-modal-token-id": "ak-nope", "x-modal-token-secret": "as-nope"}):
        with _raw(path) as sock:
            opened = api_pb2.StreamOpen(method="CallStream", metadata=metadata)
            sock.sendall(_frame(OPEN, opened.SerializeToString()))
            status = _status(sock)
        assert status.code == "UNAUTHENTICATED", (metadata, status)
        assert status.error_kind == "AuthError"


@pytest.mark.parametrize("frames, code", [
    ([_frame(MESSAGE, b"hello")], "INVALID_ARGUMENT"),                       # no OPEN first
    ([_frame(OPEN, b"\xff\xff\xff")], "INVALID_ARGUMENT"),                    # OPEN is not a StreamOpen
    ([_frame(OPEN, api_pb2.StreamOpen(method="AppCreate").SerializeToString())], "UNIMPLEMENTED"),
    ([_frame(OPEN, api_pb2.StreamOpen(method="CallStream").SerializeToString()),
      _frame(MESSAGE, b"\xff\xfe garbage"), _frame(HALF_CLOSE)], "INVALID_ARGUMENT"),  # not a CallStreamRequest
    ([_frame(OPEN, api_pb2.StreamOpen(method="DataStream").SerializeToString()),
      _frame(7, b"")], "INVALID_ARGUMENT"),                                  # an unknown frame kind
])
def test_bad_frames_get_an_error_and_the_server_keeps_serving(private_server, frames, code):
    with _raw(private_server.home / "server-streams.sock") as sock:
        sock.sendall(b"".join(frames))
        status = _status(sock)
    assert status.code == code, status
    assert status.details  # says what was wrong
    client = private_server.client()
    from modal._utils.async_utils import run_sync

    run_sync(client.hello.aio())


def _frames_of(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """The next `count` frames from `sock` (deadline: the socket's timeout)."""
    buf, out = b"", []
    while len(out) < count:
        while len(buf) >= 5 and len(out) < count:
            length, kind = HEADER.unpack_from(buf)
            if len(buf) < 5 + length:
                break
            out.append((kind, buf[5:5 + length]))
            buf = buf[5 + length:]
        if len(out) < count:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the stream early"
            buf += chunk
    return out


def test_data_stream_answers_pipelined_messages_in_order_and_flags_malformed_ones(private_server):
    """The owner's DataStream is answered as its frames arrive (in the socket's read callback):
    every message of a burst gets its answer, in order; a malformed one ends the stream with
    InvalidError."""
    client = private_server.client()
    from modal._utils.async_utils import run_sync

    created = run_sync(client.stub.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        name="framed-inline", kind=api_pb2.DATA_OBJECT_KIND_DICT, create_if_missing=True)))
    dict_id = created.object_id

    def op(i: int, kind: str) -> bytes:
        if kind == "put":
            o = api_pb2.DataOp(id=i, dict_put=api_pb2.DictPutRequest(
                dict_id=dict_id, entries=[api_pb2.DictEntry(key=b"k", value=str(i).encode())]))
        else:
            o = api_pb2.DataOp(id=i, dict_get=api_pb2.DictGetRequest(dict_id=dict_id, key=b"k", want_value=True))
        return _frame(MESSAGE, api_pb2.DataStreamRequest(ops=[o]).SerializeToString())

    with _raw(private_server.home / "server-streams.sock") as sock:
        burst = [op(i, "put" if i % 2 == 0 else "get") for i in range(400)]
        sock.sendall(_frame(OPEN, api_pb2.StreamOpen(method="DataStream").SerializeToString()) + b"".join(burst))
        answers = [api_pb2.DataStreamResponse.FromString(p).results[0] for _, p in _frames_of(sock, 400)]
        assert [a.id for a in answers] == list(range(400))
        assert all(a.dict_get.value == str(a.id - 1).encode() for a in answers if a.id % 2)  # the put just before
        sock.sendall(_frame(HALF_CLOSE))
        assert _status(sock).code == "OK"
    with _raw(private_server.home / "server-streams.sock") as sock:
        sock.sendall(_frame(OPEN, api_pb2.StreamOpen(method="DataStream").SerializeToString())
                     + _frame(MESSAGE, b"\xff\xfe garbage"))
        status = _status(sock)
    assert (status.code, status.error_kind) == ("INVALID_ARGUMENT", "InvalidError"), status
    assert "malformed" in status.details


def test_an_oversized_frame_closes_only_that_connection(private_server):
    with _raw(private_server.home / "server-streams.sock") as sock:
        sock.sendall(struct.pack("<IB", MAX_FRAME + 1, OPEN))
        assert sock.recv(100) == b""  # dropped without reading 80 MiB
    _run(private_server, "from apps.framed_app import app, square\nwith app.run():\n    assert square.remote(3) == 9\n")


def test_ctrl_c_interrupts_a_blocking_remote_and_the_thread_calls_on(private_server):
    """A blocking `.remote()` waits on its own thread's framed stream: Ctrl-C must still end the
    wait at once, cancel the call, and leave the thread's stream usable for the next call."""
    out = _run(private_server, """
import os, signal, threading, time
import modal
from apps.framed_app import app, sleepy, square
with modal.Queue.ephemeral() as started, app.run():
    assert square.remote(2) == 4  # the thread's stream is open
    def interrupt():
        started.get(timeout=60)  # the call is running in its container
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt, daemon=True).start()
    t = time.monotonic()
    try:
        sleepy.remote(started)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted after", round(time.monotonic() - t), "s")
    print("then", square.remote(4))
""")
    lines = out.splitlines()
    assert lines[-2].startswith("interrupted after"), out
    assert int(lines[-2].split()[2]) < 60
    assert lines[-1] == "then 16"


def test_aio_data_ops_run_on_the_callers_own_loop(private_server):
    """`.aio` Dict/Queue ops from user code run on the caller's event loop (a framed stream of
    that loop's own), loop after loop; a get that must wait still waits (on the SDK's loop)."""
    out = _run(private_server, """
import asyncio, threading
import modal
from modal import dict as dict_module

d = modal.Dict.from_name("framed-aio", create_if_missing=True)
q = modal.Queue.from_name("framed-aio-q", create_if_missing=True)
d.put("k", 0)
q.len()  # both handles resolved

async def main(i):
    await asyncio.gather(*(d.put.aio(f"k{j}", j + i) for j in range(50)))
    values = await asyncio.gather(*(d.get.aio(f"k{j}") for j in range(50)))
    assert values == [j + i for j in range(50)], values
    assert await d.contains.aio("k1") and not await d.contains.aio("nope")
    await q.put.aio(i)
    assert await q.get.aio() == i
    threading.Timer(0.2, lambda: q.put("late")).start()  # a put while the get below waits
    assert await q.get.aio(timeout=30) == "late"
    return asyncio.get_running_loop() in dict_module._loop_streams

print([asyncio.run(main(i)) for i in range(3)])
""")
    assert out.splitlines()[-1] == "[True, True, True]"


def test_remote_aio_runs_on_the_callers_own_loop(private_server):
    """`.remote.aio()` from user code rides a CallStream of the caller's own loop, loop after
    loop; concurrent calls and a failing one behave as on the SDK's loop."""
    out = _run(private_server, """
import asyncio
from apps.framed_app import app, square
from modal.client import Client

async def main(i):
    values = await asyncio.gather(*(square.remote.aio(j) for j in range(20)))
    assert values == [j * j for j in range(20)], values
    try:
        await square.remote.aio("not a number")
    except TypeError:
        pass
    else:
        raise AssertionError("no error")
    return asyncio.get_running_loop() in Client._default._loop_call_streams

with app.run():
    square.remote(1)  # the handle is resolved and the client connected
    print([asyncio.run(main(i)) for i in range(3)])
""")
    assert out.splitlines()[-1] == "[True, True, True]"
