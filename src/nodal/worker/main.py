"""The worker: the entrypoint of every function container.

It connects to the server over the socket bound into the container, loads the
user's code once (running @enter), then takes inputs in batches off one stream,
runs them (concurrently up to the function's limit), and streams outputs back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import gc
import inspect
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any

from nodal.proto import api_pb2, framed_calls, framing
from nodal.proto.lazy_stub import LazyNodalStub
from nodal.worker.user_code import Service, call_hook, find_function_handles, load

INLINE_LIMIT = 2 * 1024 * 1024


class Worker:
    def __init__(self, stub: Any) -> None:
        self.stub = stub  # _ServerStub: the server's unary RPCs
        self.stream: Any = None  # the WorkerStream call, written to directly
        self.unsent: list[api_pb2.WorkerMessage] = []
        self.writing = False
        self.outbox: list[api_pb2.Output] = []
        self.flush_scheduled = False
        self.tasks: dict[str, asyncio.Task] = {}
        self.service: Service | None = None
        self.definition = api_pb2.FunctionDef()
        self.threads: concurrent.futures.ThreadPoolExecutor | None = None
        self.batch: list[api_pb2.WorkerInput] = []
        self.batch_timer: asyncio.TimerHandle | None = None
        self.slots = asyncio.Semaphore(1)  # inputs running at once, set from the definition
        self.concurrency = 1
        self.inline_queue: queue.SimpleQueue = queue.SimpleQueue()  # WorkerInput | None (stop)
        self.inline_thread: threading.Thread | None = None
        self.thread_outbox: list[api_pb2.Output] = []
        self.thread_lock = threading.Lock()
        self.cancelled: set[str] = set()
        self.web: Any = None  # nodal.worker.web.WebServers of a web endpoint function
        self.retired = False  # a snapshotted container the server let go unused

    # ---------- output ----------
    def post(self, out: api_pb2.Output) -> None:
        self.outbox.append(out)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.outbox:
            self.send(api_pb2.WorkerMessage(outputs=api_pb2.WorkerOutputs(outputs=self.outbox)))
            self.outbox = []

    def send(self, msg: api_pb2.WorkerMessage) -> None:
        """Queue a message; one writer task drains them (gRPC allows one write at a time)."""
        self.unsent.append(msg)
        if not self.writing:
            self.writing = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.unsent:
                await self.stream.write(self.unsent.pop(0))
        except _stream_errors():
            self.unsent.clear()  # the server is gone; the read loop ends the worker
        finally:
            self.writing = False

    async def payload(self, value: Any) -> api_pb2.Payload:
        from modal._serialization import serialize

        data = serialize(value)
        if len(data) <= INLINE_LIMIT:
            return api_pb2.Payload(data=data)
        resp = await self.stub.BlobPut(api_pb2.BlobPutRequest(data=data))
        return api_pb2.Payload(blob=resp.sha256)

    async def failure_result(self, exc: BaseException, status: int = api_pb2.RESULT_STATUS_FAILURE) -> api_pb2.Result:
        return self._failure_sync(exc, status)

    def _failure_sync(self, exc: BaseException, status: int = api_pb2.RESULT_STATUS_FAILURE) -> api_pb2.Result:
        from modal._serialization import serialize_exception

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return api_pb2.Result(status=status, data=api_pb2.Payload(data=serialize_exception(exc)),
                              exception=f"{type(exc).__name__}: {exc}", traceback=tb)

    # ---------- running inputs ----------
    async def args_of(self, inp: api_pb2.Input) -> tuple[tuple, dict]:
        data = inp.args.data
        if inp.args.blob:
            data = (await self.stub.BlobGet(api_pb2.BlobGetRequest(sha256=inp.args.blob))).data
        from modal._serialization import deserialize

        return deserialize(data)

    def _in_thread(self, ctx: contextvars.Context, fn: Any, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self.threads, lambda: ctx.run(fn, *args, **kwargs))

    async def run_input(self, wi: api_pb2.WorkerInput) -> None:
        async with self.slots:
            await self._run_input(wi)

    async def _run_input(self, wi: api_pb2.WorkerInput) -> None:
        from modal._container import set_current

        out = api_pb2.Output(call_id=wi.call_id, idx=wi.input.idx, input_id=wi.input_id)
        try:
            assert self.service is not None
            fn = self.service.target(wi.input.method_name)
            args, kwargs = await self.args_of(wi.input)
            ctx = contextvars.copy_context()
            ctx.run(set_current, wi.input_id, wi.call_id)
            if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn) or self._is_gen(wi):
                await self._run_generator(ctx, fn, args, kwargs, out)
                return
            if inspect.iscoroutinefunction(fn):
                value = await ctx.run(asyncio.ensure_future, fn(*args, **kwargs))  # type: ignore[arg-type]
            else:
                value = await self._in_thread(ctx, fn, *args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
            out.result.CopyFrom(api_pb2.Result(status=api_pb2.RESULT_STATUS_SUCCESS, data=await self.payload(value)))
        except asyncio.CancelledError:
            out.result.CopyFrom(api_pb2.Result(status=api_pb2.RESULT_STATUS_TERMINATED, exception="cancelled"))
        except BaseException as exc:  # noqa: BLE001 - every user failure becomes a result
            out.result.CopyFrom(await self.failure_result(exc))
        finally:
            self.tasks.pop(wi.input_id, None)
        if self.definition.volume_mounts or self.definition.bucket_mounts:
            await self.commit_volumes()
        interact = sys.modules.get("modal._interact")
        if interact is not None:  # the terminal's last output reaches the frontend before we exit
            await asyncio.get_running_loop().run_in_executor(None, interact.end_session)  # before the output: the caller then sees the writes
        self.post(out)

    # ---------- the fast path: plain sync functions, one input at a time ----------
    def accept(self, wi: api_pb2.WorkerInput) -> None:
        """Route one input: batched, inline (sync, no concurrency) or as its own task."""
        if self.definition.batch_max_size:
            self.add_to_batch(wi)
        elif self._inline_ok(wi):
            if self.inline_thread is None:
                self.inline_thread = threading.Thread(
                    target=self._inline_worker, args=(asyncio.get_running_loop(),), name="modal-input", daemon=True)
                self.inline_thread.start()
            self.inline_queue.put(wi)
        else:
            self.tasks[wi.input_id] = asyncio.get_running_loop().create_task(self.run_input(wi))

    def cancel(self, input_id: str) -> None:
        task = self.tasks.get(input_id)
        if task is not None:
            task.cancel()
        else:
            self.cancelled.add(input_id)  # still queued: dropped when its turn comes

    async def commit_volumes(self) -> None:
        """Commit every mounted volume's changes (after each input and at exit)."""
        for vm in self.definition.volume_mounts:
            try:
                await self.stub.VolumeCommit(api_pb2.VolumeCommitRequest(
                    volume_id=vm.volume_id, container_id=os.environ["NODAL_CONTAINER_ID"]))
            except Exception:  # noqa: BLE001 - reported; the input's own result stands
                traceback.print_exc()
        if self.definition.bucket_mounts:  # CloudBucketMount: upload changes to writable buckets
            try:
                await self.stub.BucketMountSync(api_pb2.BucketMountSyncRequest(
                    container_id=os.environ["NODAL_CONTAINER_ID"], token=os.environ["NODAL_CONTAINER_TOKEN"]))
            except Exception:  # noqa: BLE001 - reported in the logs; the input's own result stands
                traceback.print_exc()

    def _inline_ok(self, wi: api_pb2.WorkerInput) -> bool:
        if (self.concurrency > 1 or self.service is None or self._is_gen(wi) or self.definition.volume_mounts
                or self.definition.bucket_mounts):
            return False
        fn = self.service.functions.get(wi.input.method_name)
        return fn is not None and not (
            inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn)
        )

    def _inline_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run sync inputs one after another on a dedicated thread, handing outputs back in batches.

        One long-lived thread (not one hop per input) keeps small calls fast, and user code runs
        off the event loop, so it may block, call `asyncio.run()`, or call other functions."""
        from modal._container import set_current

        last_notify = time.monotonic()
        while True:
            wi = self.inline_queue.get()
            if wi is None:
                return
            out = api_pb2.Output(call_id=wi.call_id, idx=wi.input.idx, input_id=wi.input_id)
            if wi.input_id in self.cancelled:
                self.cancelled.discard(wi.input_id)
                out.result.status = api_pb2.RESULT_STATUS_TERMINATED
            else:
                try:
                    fn = self.service.target(wi.input.method_name)  # type: ignore[union-attr]
                    args, kwargs = self._args_sync(wi.input, loop)
                    set_current(wi.input_id, wi.call_id)
                    value = fn(*args, **kwargs)
                    out.result.status = api_pb2.RESULT_STATUS_SUCCESS
                    out.result.data.CopyFrom(self._payload_sync(value, loop))
                except BaseException as exc:  # noqa: BLE001 - every user failure becomes a result
                    out.result.CopyFrom(self._failure_sync(exc))
                finally:
                    set_current(None, None)
            with self.thread_lock:
                self.thread_outbox.append(out)
            now = time.monotonic()
            if self.inline_queue.empty() or now - last_notify > 0.002:
                last_notify = now
                loop.call_soon_threadsafe(self._take_thread_outputs)

    def _take_thread_outputs(self) -> None:
        with self.thread_lock:
            outs, self.thread_outbox = self.thread_outbox, []
        for out in outs:
            self.post(out)

    async def _unary(self, name: str, req: Any) -> Any:
        """A unary RPC made on the event loop: gRPC aio calls cannot be created in the input threads."""
        return await getattr(self.stub, name)(req)

    def _args_sync(self, inp: api_pb2.Input, loop: asyncio.AbstractEventLoop) -> tuple[tuple, dict]:
        from modal._serialization import deserialize

        data = inp.args.data
        if inp.args.blob:
            req = api_pb2.BlobGetRequest(sha256=inp.args.blob)
            data = asyncio.run_coroutine_threadsafe(self._unary("BlobGet", req), loop).result().data
        return deserialize(data)

    def _payload_sync(self, value: Any, loop: asyncio.AbstractEventLoop) -> api_pb2.Payload:
        from modal._serialization import serialize

        data = serialize(value)
        if len(data) <= INLINE_LIMIT:
            return api_pb2.Payload(data=data)
        req = api_pb2.BlobPutRequest(data=data)
        return api_pb2.Payload(blob=asyncio.run_coroutine_threadsafe(self._unary("BlobPut", req), loop).result().sha256)

    def _is_gen(self, wi: api_pb2.WorkerInput) -> bool:
        d = self.definition
        return d.is_generator if not d.is_class else wi.input.method_name in d.generator_methods

    async def _run_generator(self, ctx: contextvars.Context, fn: Any, args: tuple, kwargs: dict,
                             out: api_pb2.Output) -> None:
        index = 0

        async def emit(value: Any) -> None:
            nonlocal index
            item = api_pb2.Output(call_id=out.call_id, idx=out.idx, input_id=out.input_id)
            item.result.CopyFrom(api_pb2.Result(status=api_pb2.RESULT_STATUS_SUCCESS, data=await self.payload(value),
                                                gen_item=True, gen_index=index))
            index += 1
            self.post(item)

        try:
            gen = ctx.run(fn, *args, **kwargs)
            if hasattr(gen, "__aiter__"):
                async for value in gen:
                    await emit(value)
            else:
                sentinel = object()
                while True:
                    value = await self._in_thread(ctx, next, gen, sentinel)
                    if value is sentinel:
                        break
                    await emit(value)
            out.result.CopyFrom(api_pb2.Result(status=api_pb2.RESULT_STATUS_SUCCESS, gen_done=True, gen_count=index))
        except BaseException as exc:  # noqa: BLE001
            out.result.CopyFrom(await self.failure_result(exc))
            out.result.gen_done = True
        if self.definition.volume_mounts or self.definition.bucket_mounts:
            await self.commit_volumes()
        interact = sys.modules.get("modal._interact")
        if interact is not None:  # the terminal's last output reaches the frontend before we exit
            await asyncio.get_running_loop().run_in_executor(None, interact.end_session)
        self.post(out)

    # ---------- batching ----------
    def add_to_batch(self, wi: api_pb2.WorkerInput) -> None:
        self.batch.append(wi)
        d = self.definition
        if len(self.batch) >= d.batch_max_size:
            self._run_batch()
        elif self.batch_timer is None:
            self.batch_timer = asyncio.get_running_loop().call_later(d.batch_wait_ms / 1000, self._run_batch)

    def _run_batch(self) -> None:
        if self.batch_timer is not None:
            self.batch_timer.cancel()
            self.batch_timer = None
        batch, self.batch = self.batch, []
        if batch:
            asyncio.get_running_loop().create_task(self.run_batch(batch))

    async def run_batch(self, batch: list[api_pb2.WorkerInput]) -> None:
        """Call a @modal.batched function once with lists of arguments, one result per input."""
        assert self.service is not None
        outs = [api_pb2.Output(call_id=w.call_id, idx=w.input.idx, input_id=w.input_id) for w in batch]
        try:
            fn = self.service.target(batch[0].input.method_name)
            calls = [await self.args_of(w.input) for w in batch]
            params = [p for p in inspect.signature(fn).parameters.values()]
            columns: list[list[Any]] = [[] for _ in params]
            for args, kwargs in calls:
                bound = inspect.signature(fn).bind(*args, **kwargs)
                for i, p in enumerate(params):
                    columns[i].append(bound.arguments[p.name])
            if inspect.iscoroutinefunction(fn):
                values = await fn(*columns)
            else:
                values = await self._in_thread(contextvars.copy_context(), fn, *columns)
            if not isinstance(values, list) or len(values) != len(batch):
                raise ValueError(f"a @modal.batched function must return a list of {len(batch)} results")
            for out, value in zip(outs, values):
                out.result.CopyFrom(api_pb2.Result(status=api_pb2.RESULT_STATUS_SUCCESS, data=await self.payload(value)))
        except BaseException as exc:  # noqa: BLE001
            result = await self.failure_result(exc)
            for out in outs:
                out.result.CopyFrom(result)
        if self.definition.volume_mounts or self.definition.bucket_mounts:
            await self.commit_volumes()
        interact = sys.modules.get("modal._interact")
        if interact is not None:  # the terminal's last output reaches the frontend before we exit
            await asyncio.get_running_loop().run_in_executor(None, interact.end_session)
        for out in outs:
            self.post(out)

    # ---------- lifecycle ----------
    async def start(self, init: api_pb2.ContainerInit) -> bool:
        """Load the code and run @enter; report ready (or why not). Under `init.snapshot` the
        container is first held pre-initialised (`_snapshot`) until the server takes it."""
        self.definition = init.definition
        d = init.definition
        concurrency = self.concurrency = max(1, d.max_concurrent_inputs)
        self.slots = asyncio.Semaphore(concurrency)
        self.threads = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="modal-input")
        try:
            try:
                self.service = await asyncio.get_running_loop().run_in_executor(
                    self.threads, load, d, init.serialized_params)
            finally:
                gc.freeze()  # what start-up made lives as long as the container: never scan it again
                gc.enable()  # off since the interpreter started (nodal.runtime.sdk_site.worker_command)
            await self._hydrate(dict(init.app_function_ids))
            await self._run_hooks(self.service.snap_enter_hooks)
            if init.snapshot and not await self._snapshot():
                self.retired = True
                return False
            await self._run_hooks(self.service.enter_hooks)
            if d.web_endpoints:  # serve before reporting ready: the gateway sends requests at once
                from nodal.worker.web import WebServers

                self.web = WebServers()
                await self.web.start(d, self.service,
                                     lambda fn, *a: self._in_thread(contextvars.copy_context(), fn, *a))
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            result = await self.failure_result(exc, api_pb2.RESULT_STATUS_INIT_FAILURE)
            self.send(api_pb2.WorkerMessage(init_failed=api_pb2.WorkerInitFailed(result=result)))
            return False
        self.send(api_pb2.WorkerMessage(ready=api_pb2.WorkerReady()))
        return True

    async def _run_hooks(self, hooks: list) -> None:
        for hook in hooks:
            if inspect.iscoroutinefunction(hook):
                await hook()
            else:
                await self._in_thread(contextvars.copy_context(), hook)

    async def _snapshot(self) -> bool:
        """enable_memory_snapshot: the container stays as it is now (code imported, @enter(snap=True)
        run) until the server takes it for a cold start (`restore`: True) or retires it (False).

        Unbounded on purpose: a snapshot waits for its function's next cold start, however long
        that takes; the server ends the wait (restore, shutdown, or closing the stream)."""
        self.send(api_pb2.WorkerMessage(snapshotted=api_pb2.WorkerSnapshotted()))
        while True:
            directive = await self.stream.read()
            if _ended(directive):
                return False
            which = directive.WhichOneof("msg")
            if which == "restore":
                return True
            if which == "shutdown":
                return False

    async def _hydrate(self, function_ids: dict[str, str]) -> None:
        """Let user code call the app's other functions (`other.remote()`) from in here."""
        from modal.client import Client

        apps = find_function_handles()
        if not apps or not function_ids:
            return
        # Not connected yet: a container that never calls out never pays for a second channel.
        socket = os.environ.get("NODAL_SERVER_SOCKET")
        # On a Ray node: the server's TLS URL (the SDK trusts MODAL_SERVER_CA, set with it).
        client = Client.from_address_lazy(f"unix://{socket}" if socket else os.environ["NODAL_SERVER_URL"])
        for app in apps:
            app._hydrate_all(function_ids, client)

    async def stop(self) -> None:
        if self.web is not None:
            await self.web.stop()
        if self.inline_thread is not None:  # let the input in progress finish before @exit
            self.inline_queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self.inline_thread.join, 10.0)
        if self.service is not None:
            for hook in self.service.exit_hooks:
                try:
                    await call_hook(hook)
                except Exception:  # noqa: BLE001 - a failing @exit is reported, not fatal
                    traceback.print_exc()
        if self.definition.volume_mounts or self.definition.bucket_mounts:
            await self.commit_volumes()
        interact = sys.modules.get("modal._interact")
        if interact is not None:  # the terminal's last output reaches the frontend before we exit
            await asyncio.get_running_loop().run_in_executor(None, interact.end_session)
        deadline = time.monotonic() + 5.0
        while (self.unsent or self.writing) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)  # let the last outputs go out before the stream closes
        try:
            await self.stream.done_writing()
        except _stream_errors():
            pass


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What a broken WorkerStream raises: framed, or gRPC's errors once grpc is loaded."""
    return (framing.StreamError, *framing.grpc_errors())


def _ended(directive: Any) -> bool:
    grpc = sys.modules.get("grpc")
    return directive is framing.EOF or (grpc is not None and directive is grpc.aio.EOF)


def _server_channel() -> Any:
    """The gRPC channel to the server: the unix socket bound into the container, or (a container
    on a Ray node) TCP+TLS to NODAL_SERVER_URL, trusting the CA file NODAL_SERVER_CA."""
    import grpc

    socket = os.environ.get("NODAL_SERVER_SOCKET")
    if socket:
        return grpc.aio.insecure_channel(f"unix://{socket}")
    from modal.client import parse_server_url

    target, _tls = parse_server_url(os.environ["NODAL_SERVER_URL"])
    with open(os.environ["NODAL_SERVER_CA"], "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.aio.secure_channel(target, credentials)


class _ServerStub:
    """The server's unary RPCs (large payloads, volume commits, ...) for the worker. Its gRPC
    channel is made on first use: a container whose inputs and outputs fit in stream messages
    never loads grpc for the worker's own sake."""

    def __init__(self, credentials: tuple[tuple[str, str], ...]) -> None:
        self._credentials = credentials
        self._channel: Any = None
        self._stub: LazyNodalStub | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._stub is None:
            self._channel = _server_channel()
            self._stub = LazyNodalStub(self._channel, metadata=self._credentials)
        return getattr(self._stub, name)

    def worker_stream(self) -> Any:
        """The WorkerStream: framed where the server's framed socket is bound in, else gRPC."""
        path = os.environ.get("NODAL_STREAMS_SOCKET")
        if path and os.environ.get("NODAL_STREAMS", "").lower() != "grpc" and os.path.exists(path):
            return framed_calls.FramedCall(path, "WorkerStream", dict(self._credentials))
        # A container on a Ray node: framed over TLS on the port the server serves them on
        # (NODAL_STREAMS_TLS_PORT, set by the launcher's _image_binds), the host and CA as for gRPC;
        # on gRPC after all where that port cannot be reached (a block_network container's relay
        # passes only the gRPC port).
        tls_port = os.environ.get("NODAL_STREAMS_TLS_PORT")
        if tls_port and os.environ.get("NODAL_STREAMS", "").lower() != "grpc":
            from modal.client import parse_server_url

            host = parse_server_url(os.environ["NODAL_SERVER_URL"])[0].rpartition(":")[0].strip("[]")
            with open(os.environ["NODAL_SERVER_CA"], "rb") as f:
                endpoint = framing.TlsEndpoint(host, int(tls_port), framing.client_tls_context(f.read()))
            framed = framed_calls.FramedCall(endpoint, "WorkerStream", dict(self._credentials), timeout=5.0)
            return framed_calls.FallbackCall(framed, self.WorkerStream)
        return self.WorkerStream()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def _take_function_parts(init: api_pb2.ContainerInit) -> None:
    """A spare container (nodal.server.spares) sets up what its function brings: variables and
    code files, as a container started for the function would have had them from the start."""
    os.environ.update(init.env)
    if "TZ" in init.env:  # the C library read the zone when the interpreter started
        time.tzset()
    for f in init.files:
        os.makedirs(os.path.dirname(f.path) or "/", exist_ok=True)
        with open(f.path, "wb") as out:
            out.write(f.data)
        os.chmod(f.path, f.mode & 0o7777 or 0o644)
    if init.files:  # the import system may have listed these directories before the files existed
        import importlib

        importlib.invalidate_caches()


async def _amain() -> int:
    spare = bool(os.environ.get("NODAL_SPARE"))
    if os.environ.get("NODAL_WEB_DIR"):  # a web endpoint's container (nodal.worker.web)
        from nodal.worker.web import prefetch_server_modules

        prefetch_server_modules(background=not spare)
    if spare:  # import now what loading any function needs, then wait for one (nodal.server.spares)
        import modal  # noqa: F401
        import modal.client  # noqa: F401
    hello = api_pb2.WorkerMessage(hello=api_pb2.WorkerHello(
        container_id=os.environ["NODAL_CONTAINER_ID"], token=os.environ["NODAL_CONTAINER_TOKEN"]))
    credentials = (("x-nodal-container-id", os.environ["NODAL_CONTAINER_ID"]),
                   ("x-nodal-container-token", os.environ["NODAL_CONTAINER_TOKEN"]))
    stub = _ServerStub(credentials)
    worker = Worker(stub)
    try:
        stream = worker.stream = stub.worker_stream()
        await stream.write(hello)
        first = await stream.read()
        if _ended(first) or first.WhichOneof("msg") != "init":
            if not os.environ.get("NODAL_SPARE"):  # a spare retired unused ends quietly
                print("worker: the server did not send the container's init", file=sys.stderr)
            return 2
        if first.init.env or first.init.files:
            _take_function_parts(first.init)
        ok = await worker.start(first.init)
        while not worker.retired:
            directive = await stream.read()
            if _ended(directive):
                break
            which = directive.WhichOneof("msg")
            if which == "inputs" and ok:
                for wi in directive.inputs.inputs:
                    worker.accept(wi)
            elif which == "cancel_input_id":
                worker.cancel(directive.cancel_input_id)
            elif which == "shutdown":
                break
        await worker.stop()
        return 0 if ok or worker.retired else 1
    finally:
        await stub.close()


def _breakpoint(*args: Any, **kwargs: Any) -> None:
    from modal._interact import breakpoint_hook  # loaded only when user code stops here

    breakpoint_hook(sys._getframe(1))


def main() -> None:
    sys.path.insert(0, "/root")
    # The input thread and the stream's event loop hand work to each other constantly; a short
    # GIL switch interval keeps each hand-off from waiting out the default 5 ms.
    sys.setswitchinterval(0.0005)
    if not os.environ.get("PYTHONBREAKPOINT"):  # breakpoint(): pdb on the frontend's terminal (modal run -i)
        sys.breakpointhook = _breakpoint
    code = asyncio.run(_amain())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
