"""Fuzzing every RPC of the `Nodal` service: random bytes and random well-formed messages.

The RPCs are enumerated from the service descriptor, so a new RPC is fuzzed the day it is
added. Each example sends one request to every RPC at once (a stream gets a few messages, then
half-closes) and checks that:

- every call ends with a status before its deadline: OK or a clean error. Only RPCs that wait
  by design (`WAITING`) may run into their (short) deadline;
- no handler crashed: INTERNAL ("internal error in ...") or UNKNOWN from a Python exception is
  a bug, and so is any error record in the server's log (raw bytes that are not a protobuf
  message at all must get INVALID_ARGUMENT);
- the server keeps serving: Hello answers after every example, and the server process that
  started the module is the one alive at its end.

The passes: raw bytes and random messages as the owner (unix socket, no token); both again over
TCP+TLS with the initial admin token; no credentials or made-up ones over TLS and on the
containers' socket (every RPC must answer UNAUTHENTICATED); and a member of another workspace
naming the default workspace's objects (nothing succeeds, no reply carries their ids).

The budget is bounded by wall-clock (NODAL_FUZZ_SECONDS, default 60 s for the file) as well as
by the example counts; `NODAL_FUZZ_SECONDS=600` fuzzes longer.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import re
import socket
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from conftest import PrivateServer
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from nodal.proto import api_pb2

SERVICE = api_pb2.DESCRIPTOR.services_by_name["Nodal"]
METHODS: list[MethodDescriptor] = list(SERVICE.methods)

BUDGET_S = float(os.environ.get("NODAL_FUZZ_SECONDS", "60"))
# RPCs that wait for something by design (an output, a queue item, a log line, a build, a
# stream's peer): they may end with DEADLINE_EXCEEDED under their short deadline. Every other
# RPC must answer well within CALL_TIMEOUT.
WAITING = {
    "AppLogs", "CallGetOutputs", "CallGetOutputsMany", "CallStream", "DataStream", "ImageJoin",
    "ProcessStream", "QueueGet", "QueueNextItems", "SandboxWait", "SandboxWatch", "WorkerStream",
}
WAITING_TIMEOUT = 1.0
CALL_TIMEOUT = 15.0  # generous: the machine is shared; a handler taking this long is hung
MAX_STREAM_RESPONSES = 200  # a server stream yielding more than this is cancelled (fine)

CLEAN_CODES = {
    grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED,
}
# gRPC's own answer to a unary request's bytes that do not decode as its type (no handler ran).
UNARY_REQUEST = {m.name for m in METHODS if not m.client_streaming}

pytestmark = pytest.mark.timeout(600)


# ---------------------------------------------------------------- strategies from descriptors

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
ID_PREFIXES = ("ap", "fu", "fc", "in", "ta", "im", "st", "di", "qu", "vo", "sb", "nf", "ak", "as", "tk")
NASTY_STRINGS = (
    "", " ", "main", "default", ".", "..", "/", "../../../../etc/passwd", "/etc/passwd", "a" * 300,
    "x" * 5000, "\x00", "name\x00with-nul", "emoji-\U0001f600", "-", "--help", "*", "%s%s%n", "{}", "[]",
    "null", "true", "0", "-1", "1e309", "NaN", "\u202e", "a/b", "a b", "A.B-c_d", "ws/env",
)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = sorted({lo, hi, 0, 1, max(lo, -1), 2**31 - 1 if hi >= 2**31 - 1 else hi})
    return st.one_of(st.sampled_from(edges), st.integers(max(lo, -1000), min(hi, 1000)), st.integers(lo, hi))


class Strategies:
    """Hypothesis strategies for the request messages, built from their descriptors. `ids` are real
    object ids of the server under test: mixed into every string field so handlers go past lookups."""

    def __init__(self, ids: list[str], max_depth: int = 3, ids_only_in_id_fields: bool = False) -> None:
        self.max_depth = max_depth
        id_like = st.builds(lambda p, h: f"{p}-{h}", st.sampled_from(ID_PREFIXES),
                            st.text("0123456789abcdef", min_size=0, max_size=32))
        choices = [st.text(max_size=24), st.sampled_from(NASTY_STRINGS), id_like]
        if ids and not ids_only_in_id_fields:
            choices.append(st.sampled_from(ids))
        self.strings = st.one_of(*choices)
        # Fields that name an object get a real id most of the time, environments a real name.
        self.ids = st.one_of(st.sampled_from(ids), self.strings) if ids else self.strings
        self.env_names = st.one_of(st.sampled_from(["", "main"]), self.strings)
        self._cache: dict[tuple[str, int], st.SearchStrategy] = {}

    def message(self, desc: Descriptor, depth: int = 0) -> st.SearchStrategy:
        key = (desc.full_name, depth)
        if key not in self._cache:
            cls = message_factory.GetMessageClass(desc)
            fields = [(f, s) for f in desc.fields if (s := self._field(f, depth)) is not None]

            @st.composite
            def build(draw):
                msg = cls()
                for f, strategy in fields:
                    if draw(st.booleans()):
                        _set_field(msg, f, draw(strategy))
                return msg

            self._cache[key] = build()
        return self._cache[key]

    def _field(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy | None:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_s = self._scalar(f.message_type.fields_by_name["key"], depth)
            value_s = self._scalar(f.message_type.fields_by_name["value"], depth)
            if key_s is None or value_s is None:
                return None
            return st.dictionaries(key_s, value_s, max_size=3)
        one = self._scalar(f, depth)
        if one is None:
            return None
        if f.is_repeated:
            return st.lists(one, max_size=4)
        return one

    def _scalar(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy | None:
        t = f.type
        if t == FieldDescriptor.TYPE_MESSAGE:
            if depth >= self.max_depth:
                return None
            return self.message(f.message_type, depth + 1)
        if t in _INT_BOUNDS:
            return _ints(*_INT_BOUNDS[t])
        if t == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if t == FieldDescriptor.TYPE_STRING:
            if f.name.endswith(("_id", "_ids")):
                return self.ids
            return self.env_names if f.name == "environment_name" else self.strings
        if t == FieldDescriptor.TYPE_BYTES:
            return st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"\x80\x04N.", b"\x00" * 1000]))
        if t == FieldDescriptor.TYPE_DOUBLE:
            return st.floats(allow_nan=True, allow_infinity=True)
        if t == FieldDescriptor.TYPE_FLOAT:
            return st.floats(width=32, allow_nan=True, allow_infinity=True)
        if t == FieldDescriptor.TYPE_ENUM:
            known = [v.number for v in f.enum_type.values]
            return st.one_of(st.sampled_from(known), st.sampled_from(known), st.integers(-3, 1000))
        return None


def _set_field(msg, f: FieldDescriptor, value) -> None:
    target = getattr(msg, f.name)
    if isinstance(value, dict):  # a map field
        for k, v in value.items():
            if hasattr(v, "CopyFrom"):
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif f.is_repeated:
        target.extend(value)
    elif f.type == FieldDescriptor.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(msg, f.name, value)


@st.composite
def mangled_bytes(draw, valid: st.SearchStrategy) -> bytes:
    """Bytes that are almost a message: a valid encoding truncated, with bytes flipped or appended."""
    data = bytearray(draw(valid).SerializeToString())
    action = draw(st.sampled_from(["truncate", "flip", "append", "prepend"]))
    if action == "truncate" and data:
        del data[draw(st.integers(0, len(data) - 1)):]
    elif action == "flip" and data:
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    else:
        extra = draw(st.binary(min_size=1, max_size=32))
        data = data + extra if action == "append" else extra + data
    return bytes(data)


# ---------------------------------------------------------------- sending and judging calls

@dataclass
class Outcome:
    method: str
    code: grpc.StatusCode
    details: str
    seconds: float
    request: str
    response: bytes = b""  # the reply's bytes (a stream's concatenated)


class RawCaller:
    """Sends request bytes to any RPC (no serializer: the body goes as it is) and reports the status."""

    def __init__(self, channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.channel = channel
        self.metadata = metadata
        self._calls: dict[str, object] = {}

    def _multicallable(self, m: MethodDescriptor):
        call = self._calls.get(m.name)
        if call is None:
            path = f"/{SERVICE.full_name}/{m.name}"
            kind = {
                (False, False): self.channel.unary_unary, (False, True): self.channel.unary_stream,
                (True, False): self.channel.stream_unary, (True, True): self.channel.stream_stream,
            }[(m.client_streaming, m.server_streaming)]
            call = self._calls[m.name] = kind(path, request_serializer=None, response_deserializer=None)
        return call

    def call(self, m: MethodDescriptor, bodies: list[bytes], shown: str) -> Outcome:
        timeout = WAITING_TIMEOUT if m.name in WAITING else CALL_TIMEOUT
        call = self._multicallable(m)
        start = time.monotonic()
        code, details, received = grpc.StatusCode.OK, "", bytearray()
        try:
            if not m.client_streaming and not m.server_streaming:
                received += call(bodies[0], timeout=timeout, metadata=self.metadata)
            elif not m.client_streaming:
                _drain(call(bodies[0], timeout=timeout, metadata=self.metadata), received)
            elif not m.server_streaming:
                received += call(iter(bodies), timeout=timeout, metadata=self.metadata)
            else:
                _drain(call(iter(bodies), timeout=timeout, metadata=self.metadata), received)
        except grpc.RpcError as err:
            code, details = err.code(), err.details() or ""
        return Outcome(m.name, code, details, time.monotonic() - start, shown, bytes(received))


def _drain(responses, into: bytearray) -> None:
    for n, item in enumerate(responses):
        into += item
        if n >= MAX_STREAM_RESPONSES:
            responses.cancel()
            return


def problem(o: Outcome, raw: bool) -> str | None:
    """Why this outcome is a bug, or None when it is a clean answer."""
    limit = WAITING_TIMEOUT if o.method in WAITING else CALL_TIMEOUT
    if o.seconds > limit + 5.0:
        return f"took {o.seconds:.1f}s, past its {limit:g}s deadline"
    if o.code in CLEAN_CODES:
        return None
    if o.code == grpc.StatusCode.DEADLINE_EXCEEDED and o.method in WAITING:
        return None
    return f"{o.code.name}: {o.details[:300]}"


SEEN: collections.Counter[tuple[str, str]] = collections.Counter()  # (method, status): for -s reports


def run_batch(caller: RawCaller, requests: dict[str, tuple[list[bytes], str]], raw: bool,
              pool: concurrent.futures.Executor) -> list[str]:
    """Send every request at once; the problems found (empty when all answered cleanly)."""
    by_name = {m.name: m for m in METHODS}
    futures = [pool.submit(caller.call, by_name[name], bodies, shown) for name, (bodies, shown) in requests.items()]
    problems = []
    for fut in futures:
        o = fut.result(timeout=CALL_TIMEOUT + 30)
        SEEN[(o.method, o.code.name)] += 1
        why = problem(o, raw)
        if why:
            problems.append(f"{o.method} {why}\n    request: {o.request[:400]}")
    return problems


def hello(caller: RawCaller) -> grpc.StatusCode:
    o = caller.call(SERVICE.methods_by_name["Hello"], [b""], "")
    return o.code


# ---------------------------------------------------------------- the server under test

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ", re.M)
# Server log records that are not bugs: gRPC logging an RPC this server does not implement
# (answered UNIMPLEMENTED first).
_BENIGN_ERRORS = re.compile(r"Unexpected \[NotImplementedError\] raised by servicer method")


class LogWatch:
    """The server log's error records (and tracebacks) written since `mark()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def errors(self) -> list[str]:
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
        starts = [m.start() for m in _LOG_RECORD.finditer(text)] + [len(text)]
        found = []
        for a, b in zip(starts, starts[1:], strict=False):
            record = text[a:b]
            level = _LOG_RECORD.match(record).group(1)
            if (level in ("ERROR", "CRITICAL") or "Traceback" in record) and not _BENIGN_ERRORS.search(record):
                found.append(record.strip()[-1500:])
        return found


@dataclass
class Target:
    server: PrivateServer
    pid: int
    caller: RawCaller
    strategies: Strategies
    log: LogWatch


def _seed_objects(channel: grpc.Channel, tag: str = "fuzz") -> dict[str, str]:
    """A few real objects (an app, a dict, a queue, a volume, a secret), so that random requests
    naming them reach past the id lookups: {object id: its kind, as nodal.server.auth.scope names it}."""
    from nodal.proto import api_pb2_grpc

    stub = api_pb2_grpc.NodalStub(channel)
    app = api_pb2.AppCreateRequest(description=tag, state=api_pb2.APP_STATE_DETACHED)
    ids = {stub.AppCreate(app, timeout=30).app_id: "app"}
    for kind in (api_pb2.DATA_OBJECT_KIND_DICT, api_pb2.DATA_OBJECT_KIND_QUEUE, api_pb2.DATA_OBJECT_KIND_VOLUME):
        req = api_pb2.DataObjectGetOrCreateRequest(kind=kind, name=f"{tag}-{kind}", create_if_missing=True)
        ids[stub.DataObjectGetOrCreate(req, timeout=30).object_id] = "data"
    secret = stub.SecretCreate(api_pb2.SecretCreateRequest(env={"A": "b"}), timeout=30)
    ids[secret.secret_id] = "secret"
    return ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """One private server for the module: the owner's unix socket, and TLS on a loopback port."""
    server = PrivateServer(tmp_path_factory.mktemp("nodal-fuzz-home"))
    listen = f"127.0.0.1:{_free_port()}"
    old = os.environ.get("NODAL_LISTEN")
    os.environ["NODAL_LISTEN"] = listen
    try:
        pid = server.start()
    finally:
        if old is None:
            os.environ.pop("NODAL_LISTEN", None)
        else:
            os.environ["NODAL_LISTEN"] = old
    server.listen = listen  # type: ignore[attr-defined]
    try:
        yield server
        assert server.pid() == pid, "the server process that started the module is gone"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def unix_target(fuzz_server):
    """The owner on the unix socket: no credentials needed."""
    channel = grpc.insecure_channel(f"unix://{fuzz_server.home / 'server.sock'}")
    try:
        ids = sorted(_seed_objects(channel))
        log = LogWatch(fuzz_server.home / "logs" / "server.log")
        yield Target(fuzz_server, fuzz_server.pid(), RawCaller(channel), Strategies(ids), log)
    finally:
        channel.close()


def _tls_channel(server) -> grpc.Channel:
    ca = (server.home / "tls" / "ca.pem").read_bytes()
    return grpc.secure_channel(server.listen, grpc.ssl_channel_credentials(root_certificates=ca))


@pytest.fixture(scope="module")
def tls_target(fuzz_server, unix_target):
    """A remote caller over TCP+TLS with the initial admin token (same objects as the owner's)."""
    creds = tomllib.loads((fuzz_server.home / "initial-admin-token").read_text())
    metadata = (("x-modal-token-id", creds["token_id"]), ("x-modal-token-secret", creds["token_secret"]))
    channel = _tls_channel(fuzz_server)
    try:
        caller = RawCaller(channel, metadata)
        assert hello(caller) == grpc.StatusCode.OK, "the admin token is refused over TLS"
        yield Target(fuzz_server, unix_target.pid, caller, unix_target.strategies, unix_target.log)
    finally:
        channel.close()


@pytest.fixture(scope="module")
def pool():
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        yield ex


# No shrinking (each example is a whole batch against a live server: shrinking would replay
# hundreds of them); the failing batch's requests are in the assertion message.
FUZZ_SETTINGS = settings(
    deadline=None, database=None, print_blob=True, phases=(Phase.explicit, Phase.generate),
    report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
)


def _examples(n: int) -> int:
    """`n` examples for the default budget, proportionally more for a longer NODAL_FUZZ_SECONDS."""
    return max(n, int(n * BUDGET_S / 60))


def _fuzz(target: Target, pool, data, raw: bool, stop_at: float) -> None:
    """One example: a request for every RPC, all sent at once, then Hello."""
    requests: dict[str, tuple[list[bytes], str]] = {}
    for m in METHODS:
        valid = target.strategies.message(m.input_type)
        n = data.draw(st.integers(0, 3), label=f"{m.name} messages") if m.client_streaming else 1
        if raw:
            one = st.one_of(st.binary(max_size=200), mangled_bytes(valid))
            bodies = [data.draw(one, label=m.name) for _ in range(n)]
            shown = repr(bodies)
        else:
            msgs = [data.draw(valid, label=m.name) for _ in range(n)]
            bodies = [x.SerializeToString() for x in msgs]
            shown = " | ".join(repr(x) for x in msgs).replace("\n", " ")
        requests[m.name] = (bodies or [b""], shown) if not m.client_streaming else (bodies, shown)
    if time.monotonic() > stop_at:
        return  # out of wall-clock budget: the remaining examples are drawn but not sent
    problems = run_batch(target.caller, requests, raw, pool)
    assert hello(target.caller) == grpc.StatusCode.OK, "the server stopped answering Hello"
    assert not problems, "RPCs did not answer cleanly:\n" + "\n".join(problems)


def _report() -> None:
    """The statuses each RPC answered (shown with `pytest -s`): how deep the fuzzing reached."""
    by_method: dict[str, list[str]] = {}
    for (method, code), n in sorted(SEEN.items()):
        by_method.setdefault(method, []).append(f"{code}={n}")
    for method, codes in by_method.items():
        print(f"  {method:<24} {' '.join(codes)}")


def test_every_rpc_is_enumerated():
    """The fuzzer covers the whole service as the descriptor describes it."""
    assert len(METHODS) > 50
    assert {"Hello", "CallStream", "WorkerStream", "DataStream", "NfsWriteFile"} <= {m.name for m in METHODS}


def _fuzz_pass(target, pool, share: float, examples: int, raw) -> None:
    """One bounded fuzzing pass against `target` (`share` of the time budget); `raw`: True (bytes),
    False (messages) or None (drawn per example). The server must log no error."""
    stop_at = time.monotonic() + BUDGET_S * share
    target.log.mark()

    @settings(FUZZ_SETTINGS, max_examples=_examples(examples))
    @given(data=st.data())
    def fuzz(data):
        as_bytes = data.draw(st.booleans(), label="raw bytes") if raw is None else raw
        _fuzz(target, pool, data, raw=as_bytes, stop_at=stop_at)

    SEEN.clear()
    fuzz()
    _report()
    errors = target.log.errors()
    assert not errors, "the server logged errors:\n\n" + "\n\n".join(errors[:10])


def test_random_bytes_to_every_rpc(unix_target, pool):
    _fuzz_pass(unix_target, pool, 0.25, 40, raw=True)


def test_random_messages_to_every_rpc(unix_target, pool):
    _fuzz_pass(unix_target, pool, 0.5, 60, raw=False)


def test_random_messages_over_tls_with_a_token(tls_target, pool):
    _fuzz_pass(tls_target, pool, 0.15, 20, raw=None)


printable_ascii = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


def test_every_rpc_refuses_callers_without_valid_credentials(fuzz_server, unix_target, pool):
    """No credentials, or made-up ones, over TLS or on the containers' socket: every RPC answers
    UNAUTHENTICATED, whatever the request."""
    stop_at = time.monotonic() + BUDGET_S * 0.1
    channels = {
        "TLS": _tls_channel(fuzz_server),
        "containers' socket": grpc.insecure_channel(f"unix://{fuzz_server.home / 'containers.sock'}"),
    }

    @settings(FUZZ_SETTINGS, max_examples=_examples(12))
    @given(data=st.data())
    def fuzz(data):
        where = data.draw(st.sampled_from(sorted(channels)))
        kind = data.draw(st.sampled_from(["none", "made-up token", "made-up container credential"]))
        metadata: tuple[tuple[str, str], ...] = ()
        if kind == "made-up token":
            token_id = data.draw(st.one_of(st.just("ak-" + "0" * 24), printable_ascii))
            metadata = (("x-modal-token-id", token_id), ("x-modal-token-secret", data.draw(printable_ascii)))
        elif kind == "made-up container credential":
            container_id = data.draw(st.one_of(st.just("ta-" + "0" * 24), printable_ascii))
            metadata = (("x-nodal-container-id", container_id),
                        ("x-nodal-container-token", data.draw(printable_ascii)))
        caller = RawCaller(channels[where], metadata)
        kind = f"{kind} on the {where}"
        requests = {}
        for m in METHODS:
            raw = data.draw(st.booleans())
            one = st.binary(max_size=100) if raw else unix_target.strategies.message(m.input_type).map(
                lambda msg: msg.SerializeToString())
            body = data.draw(one, label=m.name)
            requests[m.name] = ([body], repr(body))
        if time.monotonic() > stop_at:
            return
        futures = [pool.submit(caller.call, m, requests[m.name][0], requests[m.name][1]) for m in METHODS]
        wrong = []
        for fut in futures:
            o = fut.result(timeout=CALL_TIMEOUT + 30)
            if o.code != grpc.StatusCode.UNAUTHENTICATED:
                wrong.append(f"{o.method}: {o.code.name} {o.details[:200]} (token: {kind})")
        assert not wrong, "RPCs did not refuse a caller without a valid token:\n" + "\n".join(wrong)

    try:
        fuzz()
    finally:
        for channel in channels.values():
            channel.close()


def _names_any(msg, ids: dict[str, str]) -> bool:
    """Whether a request names one of `ids` ({id: kind}) in a field the server scopes by
    workspace and that names objects of that kind (an app id in a dict_id field names nothing)."""
    from nodal.server.auth.scope import ID_FIELDS

    for f, value in msg.ListFields():
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                continue
            if any(_names_any(v, ids) for v in (value if f.is_repeated else [value])):
                return True
        elif f.name in ID_FIELDS:
            if any(ids.get(v) == ID_FIELDS[f.name] for v in (value if f.is_repeated else [value])):
                return True
    return False


def test_another_workspace_never_reaches_the_default_workspaces_objects(fuzz_server, pool):
    """A member of another workspace, over TLS, sends random requests that name the default
    workspace's objects: none succeeds, and no reply carries one of their ids."""
    owner = grpc.insecure_channel(f"unix://{fuzz_server.home / 'server.sock'}")
    remote = _tls_channel(fuzz_server)
    try:
        from nodal.proto import api_pb2_grpc

        theirs = _seed_objects(owner, "fuzz-theirs")  # fresh objects of the default workspace
        made = api_pb2_grpc.NodalStub(owner).TokenCreate(
            api_pb2.TokenCreateRequest(workspace="fuzz-other", user="mallory", label="fuzz"), timeout=30)
        caller = RawCaller(remote, (("x-modal-token-id", made.token_id), ("x-modal-token-secret", made.token_secret)))
        assert hello(caller) == grpc.StatusCode.OK
        strategies = Strategies(sorted(theirs), ids_only_in_id_fields=True)  # no object named like an id
        streamed = {m.name: m.client_streaming for m in METHODS}
        stop_at = time.monotonic() + BUDGET_S * 0.15

        @settings(FUZZ_SETTINGS, max_examples=_examples(15))
        @given(data=st.data())
        def fuzz(data):
            msgs = {m.name: data.draw(strategies.message(m.input_type), label=m.name) for m in METHODS}
            if time.monotonic() > stop_at:
                return
            futures = {name: pool.submit(caller.call, SERVICE.methods_by_name[name], [msg.SerializeToString()],
                                         repr(msg).replace("\n", " ")) for name, msg in msgs.items()}
            wrong = []
            for name, fut in futures.items():
                o = fut.result(timeout=CALL_TIMEOUT + 30)
                why = problem(o, raw=False)
                if why:
                    wrong.append(f"{name} {why}")
                elif o.code == grpc.StatusCode.OK and not streamed[name] and _names_any(msgs[name], theirs):
                    # (a client stream answers OK with per-message errors: only its replies are judged)
                    wrong.append(f"{name} succeeded on another workspace's object: {o.request[:300]}")
                sent = msgs[name].SerializeToString()  # an error echoing the caller's own input is no leak
                leaked = [i for i in theirs if i.encode() in o.response and i.encode() not in sent]
                if leaked:
                    wrong.append(f"{name} replied with another workspace's ids {leaked}: {o.request[:300]}")
            assert not wrong, "workspace isolation broken:\n" + "\n".join(wrong)

        fuzz()
    finally:
        owner.close()
        remote.close()


# ---------------------------------------------------------------- bugs the fuzzing found

@pytest.mark.parametrize("method", [m.name for m in METHODS if m.client_streaming])
def test_a_malformed_streamed_message_is_invalid_argument(unix_target, method):
    """A client-streamed message that does not decode was an INTERNAL error (NfsWriteFile), an
    UNKNOWN one with a traceback in the log (DataStream, WorkerStream, ProcessStream), or ended
    CallStream with OK as if nothing had been sent."""
    m = SERVICE.methods_by_name[method]
    o = unix_target.caller.call(m, [b"\x05\x04\xd2b\x00N", b"\x1a"], "")
    assert o.code == grpc.StatusCode.INVALID_ARGUMENT, (o.code, o.details)
    assert "malformed" in o.details


def test_an_empty_worker_stream_is_invalid_argument(unix_target):
    """A WorkerStream closed before its hello crashed the handler (UNKNOWN, StopAsyncIteration)."""
    o = unix_target.caller.call(SERVICE.methods_by_name["WorkerStream"], [], "")
    assert o.code == grpc.StatusCode.INVALID_ARGUMENT, (o.code, o.details)
    assert "hello" in o.details


def test_publishing_a_function_whose_image_was_never_built_is_refused(unix_target):
    """It was accepted, and with min_containers the scheduler then retried (and logged a
    traceback) every second, forever, for a container that could never start."""
    from nodal.proto import api_pb2_grpc

    stub = api_pb2_grpc.NodalStub(unix_target.caller.channel)
    app_id = stub.AppCreate(api_pb2.AppCreateRequest(state=api_pb2.APP_STATE_DETACHED), timeout=30).app_id
    fn = api_pb2.FunctionDef(tag="f", module_name="m", qualname="f", image_id="im-" + "0" * 24, min_containers=1)
    with pytest.raises(grpc.RpcError) as err:
        stub.AppPublish(api_pb2.AppPublishRequest(app_id=app_id, functions=[fn]), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "never built" in err.value.details() and "ImageGetOrCreate" in err.value.details()
    stub.AppStop(api_pb2.AppStopRequest(app_id=app_id), timeout=30)


def test_every_rpc_of_the_service_is_implemented():
    """An RPC added to api.proto without a servicer method would answer UNIMPLEMENTED (which the
    fuzzing above accepts as a clean answer): catch it here."""
    from nodal.proto import api_pb2_grpc
    from nodal.server.servicer import NodalServicer

    service = api_pb2.DESCRIPTOR.services_by_name["Nodal"]
    missing = [m.name for m in service.methods
               if getattr(NodalServicer, m.name) is getattr(api_pb2_grpc.NodalServicer, m.name)]
    assert not missing, f"RPCs without a servicer method: {missing}"
