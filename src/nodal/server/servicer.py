"""The gRPC face of the control plane: validates each request and hands it to a service."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import grpc

import nodal
from nodal.proto import api_pb2, api_pb2_grpc
from nodal.server.apps import LIVE_STATES, AppService, valid_name
from nodal.server.auth import identity
from nodal.server.auth.rpcs import IdentityRpcs
from nodal.server.auth.scope import env_key, env_name, workspace_of_env
from nodal.server.call_router import CallService
from nodal.server.dict_queue import DataService
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import is_id
from nodal.server.images import ImageService
from nodal.server.logs import LogHub
from nodal.server.rpc import _rpc, _stream_rpc
from nodal.server.scheduler import Scheduler
from nodal.server.secrets import SecretService
from nodal.store.blob_store import BlobStore, is_sha256, sha256_hex

log = logging.getLogger("nodal.servicer")

MAX_BLOB = 64 * 1024 * 1024


class NodalServicer(IdentityRpcs, api_pb2_grpc.NodalServicer):
    def __init__(
        self,
        apps: AppService,
        calls: CallService,
        scheduler: Scheduler,
        images: ImageService,
        blobs: BlobStore,
        logs: LogHub,
        data: DataService | None = None,
        secrets: SecretService | None = None,
    ) -> None:
        self.apps = apps
        self.data = data or DataService(apps.store)
        self.secrets = secrets or SecretService.default(apps.store)
        self.calls = calls
        self.scheduler = scheduler
        self.images = images
        self.blobs = blobs
        self.logs = logs
        self.audit = None  # nodal.server.audit.AuditLog, set by main
        self.scope = None  # nodal.server.auth.scope.Scope, set by main
        self.tokens = None  # nodal.server.auth.tokens.TokenService, set by main
        self.streams_socket = ""  # the owner's framed-stream socket, told to clients by Hello; set by main
        self.streams_tls_port = 0  # the framed streams' TCP+TLS port, told to clients by Hello; set by main
        self.container_secrets_created: dict[str, set[str]] = {}  # app id -> SecretCreate'd by its containers

    def _record(self, action: str, target: str, detail: str = "") -> None:
        if self.audit is not None:
            self.audit.record(action, target, detail)

    def _visible_app(self, app_id: str) -> bool:
        """Whether the caller's workspace owns app `app_id` (False for unknown apps)."""
        app = self.apps.store.get_app(app_id)
        return app is not None and workspace_of_env(app.environment) == identity.current().workspace

    @_rpc
    async def Hello(self, request, context):
        return api_pb2.HelloResponse(server_version=nodal.__version__, pid=os.getpid(),
                                     streams_socket=self.streams_socket, streams_tls_port=self.streams_tls_port)

    # ---- GPUs ----
    @_rpc
    async def GpuList(self, request, context):
        runtime, gpus = self.scheduler.runtime, []
        for used in runtime.gpu_inventory():
            d = used.device
            gpus.append(api_pb2.GpuInfo(
                node=used.node, index=d.index, name=d.name, gpu_type=d.gpu_type, uuid=d.uuid,
                memory_mb=d.memory_mb, container_id=used.container_id or "",
            ))
        return api_pb2.GpuListResponse(gpus=gpus, fallback=self.scheduler.gpu_fallback)

    # ---- blobs ----
    @_rpc
    async def BlobHas(self, request, context):
        for s in request.sha256:
            if not is_sha256(s):
                raise invalid(f"not a sha256 digest: {s!r}")
        # blob store calls leave the event loop: an s3:// store does network I/O
        missing = await asyncio.to_thread(lambda: [s for s in request.sha256 if not self.blobs.has(s)])
        return api_pb2.BlobHasResponse(missing=missing)

    @_rpc
    async def BlobPut(self, request, context):
        if len(request.data) > MAX_BLOB:
            raise ApiError("RequestSizeError", "blobs over 64 MiB are not supported yet")
        if request.sha256 and request.sha256 != sha256_hex(request.data):
            raise invalid("blob content does not match its sha256")
        return api_pb2.BlobPutResponse(sha256=await asyncio.to_thread(self.blobs.put, request.data))

    @_rpc
    async def BlobGet(self, request, context):
        try:
            return api_pb2.BlobGetResponse(data=await asyncio.to_thread(self.blobs.get, request.sha256))
        except KeyError:
            raise not_found(f"blob {request.sha256!r} not found") from None

    # ---- apps ----
    @_rpc
    async def AppCreate(self, request, context):
        return self.apps.create(request)

    @_rpc
    async def AppPublish(self, request, context):
        response = await self.apps.publish(request)
        prewarm = getattr(self.scheduler.launcher, "prewarm", None)  # nodal.server.spares
        if prewarm is not None:
            try:
                prewarm(request.app_id, request.functions)
            except Exception:  # noqa: BLE001 - an optimisation: the publish stands
                log.exception("could not start spare containers for app %s", request.app_id)
        app = self.apps.store.get_app(request.app_id)
        if app is not None and app.name:
            self._record("app.deploy", f"{env_name(app.environment)}/{app.name}", f"app_id={app.app_id}")
        return response

    @_rpc
    async def AppHeartbeat(self, request, context):
        self.apps.heartbeat(request.app_id)
        return api_pb2.Empty()

    @_rpc
    async def AppStop(self, request, context):
        if not request.app_id and not request.name:
            raise invalid("AppStop needs an app id or a name")
        await self.apps.stop(request)
        self._record("app.stop", request.app_id or f"{env_name(request.environment_name or 'main')}/{request.name}")
        return api_pb2.Empty()

    @_rpc
    async def AppLookup(self, request, context):
        if not request.name:
            raise invalid("AppLookup needs a name")
        if request.create_if_missing and identity.current().kind == "container":
            raise ApiError("AuthError", "a container's credential cannot create apps")
        return self.apps.lookup(request)

    @_rpc
    async def AppList(self, request, context):
        env = request.environment_name or None
        ws = identity.current().workspace
        apps = [a for a in self.apps.store.list_apps(env) if workspace_of_env(a.environment) == ws]
        return api_pb2.AppListResponse(apps=[self.apps.info(a) for a in apps])

    @_rpc
    async def AppRollback(self, request, context):
        if not request.name:
            raise invalid("AppRollback needs the app's name")
        if request.version < 0:
            raise invalid(f"version must be a positive number, not {request.version}")
        response = await self.apps.rollback(request)
        self._record("app.rollback", f"{env_name(request.environment_name or 'main')}/{request.name}",
                     f"version={request.version}")
        return response

    # ---- environments (exist once created or used; "main" always) ----
    @_rpc
    async def EnvironmentCreate(self, request, context):
        if not valid_name(request.name):
            raise invalid(f"invalid environment name {request.name!r}: use letters, digits, '-', '_' and '.' (max 64)")
        key = env_key(identity.current().workspace, request.name)
        if key in self.apps.store.list_environments() or request.name == "main":
            raise ApiError("AlreadyExistsError", f"environment {request.name!r} already exists")
        self.apps.store.put_environment(key, time.time())
        self._record("environment.create", request.name)
        return api_pb2.Empty()

    @_rpc
    async def EnvironmentList(self, request, context):
        ws = identity.current().workspace
        envs = {env_name(k): t for k, t in self.apps.store.list_environments().items() if workspace_of_env(k) == ws}
        envs.setdefault("main", 0.0)
        return api_pb2.EnvironmentListResponse(environments=[
            api_pb2.EnvironmentInfo(name=n, created_at=t, is_default=n == "main") for n, t in sorted(envs.items())
        ])

    @_rpc
    async def EnvironmentDelete(self, request, context):
        shown = request.name
        if shown == "main":
            raise invalid("the default environment 'main' cannot be deleted")
        if not valid_name(shown):
            raise not_found(f"environment {shown!r} not found")
        name = env_key(identity.current().workspace, shown)
        if name not in self.apps.store.list_environments():
            raise not_found(f"environment {shown!r} not found")
        live = [a for a in self.apps.store.list_apps(name) if a.state in LIVE_STATES]
        if live:
            names = ", ".join(sorted({a.name or a.app_id for a in live}))
            raise invalid(f"environment {shown!r} still runs apps ({names}): stop them first with `modal app stop`")
        if any(self.apps.store.list_data_objects(kind, name) for kind in api_pb2.DataObjectKind.values() if kind):
            raise invalid(f"environment {shown!r} still holds named objects (see `modal dict/queue/volume list "
                          f"--env {shown}`): delete them first")
        self.apps.store.delete_environment(name)
        self._record("environment.delete", shown)
        return api_pb2.Empty()

    @_rpc
    async def AppHistory(self, request, context):
        if request.app_id:
            app = self.apps.require_app(request.app_id)
            name, env = app.name, app.environment
        else:
            name, env = request.name, request.environment_name or "main"
        versions = [a for a in self.apps.store.app_versions(name, env) if a.version > 0]
        if not versions:
            raise not_found(f"no deployed app named {name!r}")
        return api_pb2.AppHistoryResponse(versions=[self.apps.info(a) for a in versions])

    @_stream_rpc
    async def AppLogs(self, request, context):
        app = self.apps.require_app(request.app_id)
        alive = request.follow and app.state != api_pb2.APP_STATE_STOPPED
        async for entry in self.logs.follow(app.app_id, request.since, alive):
            yield entry

    # ---- images ----
    @_rpc
    async def ImageGetOrCreate(self, request, context):
        image_id = self.images.get_or_create(request.spec)
        return api_pb2.ImageGetOrCreateResponse(image_id=image_id, built=self.images.is_built(image_id))

    @_stream_rpc
    async def ImageJoin(self, request, context):
        if not is_id(request.image_id, "image"):
            raise invalid(f"malformed image id {request.image_id!r}")
        async for event in self.images.join(request.image_id):
            yield event

    @_rpc
    async def ImageFromId(self, request, context):
        return api_pb2.ImageFromIdResponse(spec=self.images.spec_of(request.image_id))

    @_rpc
    async def ImageLayers(self, request, context):
        return await self.images.layers()

    @_rpc
    async def ImagePrune(self, request, context):
        return await self.images.prune(request)

    # ---- secrets ----
    @_rpc
    async def SecretCreate(self, request, context):
        secret_id = self.secrets.create_anonymous(request.env)
        who = identity.current()
        app = self.apps.store.get_app(request.app_id) if request.app_id else None
        self.apps.store.set_secret_owner(secret_id, app.environment if app else env_key(who.workspace, ""))
        if who.kind == "container":
            self.container_secrets_created.setdefault(who.app_id, set()).add(secret_id)
        return api_pb2.SecretCreateResponse(secret_id=secret_id)

    @_rpc
    async def SecretNamedCreate(self, request, context):
        response = self.secrets.create_named(request)
        self.apps.store.set_secret_owner(response.secret_id, request.environment_name or "main")
        return response

    @_rpc
    async def SecretLookup(self, request, context):
        return api_pb2.SecretLookupResponse(secret_id=self.secrets.lookup(request))

    @_rpc
    async def SecretList(self, request, context):
        return api_pb2.SecretListResponse(secrets=self.secrets.list_named(request.environment_name))

    @_rpc
    async def SecretDelete(self, request, context):
        self.secrets.delete(request.name, request.environment_name, request.allow_missing)
        return api_pb2.Empty()

    @_rpc
    async def SecretKeyRotate(self, request, context):
        """A new secret encryption key, every secret re-encrypted under it (server admins only)."""
        if not identity.current().server_admin:
            raise ApiError(
                "AuthError",
                "rotating the secret encryption key needs a server admin token (an admin token of workspace "
                "'default'), or a call over the server owner's unix socket",
            )
        count, path = self.secrets.rotate_key()
        return api_pb2.SecretKeyRotateResponse(secrets_reencrypted=count, key_path=str(path))

    # ---- functions ----
    @_rpc
    async def FunctionGet(self, request, context):
        if not request.app_name or not request.tag:
            raise invalid("FunctionGet needs app_name and tag")
        app = self.apps.live_app_by_name(request.app_name, request.environment_name or "main")
        for f in self.apps.store.list_functions(app.app_id):
            if f.tag == request.tag:
                return api_pb2.FunctionGetResponse(
                    function_id=f.function_id, definition=api_pb2.FunctionDef.FromString(f.definition)
                )
        raise not_found(f"{request.tag!r} not found in app {request.app_name!r}")

    @_rpc
    async def FunctionBindParams(self, request, context):
        return api_pb2.FunctionBindParamsResponse(
            bound_function_id=self.apps.bind_params(
                request.function_id, request.serialized_params,
                request.overrides if request.HasField("overrides") else None,
            )
        )

    @_rpc
    async def FunctionGetStats(self, request, context):
        pool = self.apps.pool(request.function_id)
        running = sum(1 for c in pool.containers.values() if c.inflight or c.web_active)  # web: requests
        return api_pb2.FunctionStats(
            backlog=len(pool.pending) + pool.web_waiting, num_total_runners=len(pool.live_containers()),
            num_active_runners=running,
        )

    @_rpc
    async def FunctionUpdateScaling(self, request, context):
        pool = self.apps.pool(request.function_id)
        for field in ("min_containers", "max_containers", "buffer_containers", "scaledown_window"):
            if getattr(request, f"has_{field}"):
                value = getattr(request, field)
                if value < 0:
                    raise invalid(f"{field} must not be negative")
                setattr(pool, field, value)
        self.scheduler.kick(pool)
        return api_pb2.Empty()

    # ---- calls ----
    @_stream_rpc
    async def CallStream(self, request_iterator, context):
        async for resp in self.calls.stream(request_iterator):
            yield resp

    @_rpc
    async def CallSpawn(self, request, context):
        call_ids = self.calls.spawn(request)
        return api_pb2.CallSpawnResponse(call_id=call_ids[0], call_ids=call_ids)

    @_rpc
    async def CallGetOutputsMany(self, request, context):
        return await self.calls.get_outputs_many(request)

    @_rpc
    async def CallGetOutputs(self, request, context):
        return await self.calls.get_outputs(request)

    @_rpc
    async def CallCancel(self, request, context):
        self.calls.cancel(request)
        return api_pb2.Empty()

    @_rpc
    async def CallGraph(self, request, context):
        return self.calls.graph(request.call_id)

    # ---- dicts and queues (nodal.server.dict_queue) ----
    # ---- volumes ----
    @_rpc
    async def VolumeGetManifest(self, request, context):
        return self.volumes.to_proto(*self.volumes.latest(request.volume_id))

    @_rpc
    async def VolumeCommit(self, request, context):
        return await self.volumes.commit(request)

    @_rpc
    async def VolumeReload(self, request, context):
        return await self.volumes.reload(request)

    # ---- cloud bucket mounts (self.buckets: nodal.server.bucket_mounts.BucketMountService, set by main) ----
    @_rpc
    async def BucketMountSync(self, request, context):
        return await self.buckets.sync(request)

    @_rpc
    async def DataObjectGetOrCreate(self, request, context):
        return api_pb2.DataObjectGetOrCreateResponse(object_id=self.data.get_or_create(request))

    @_rpc
    async def DataObjectDelete(self, request, context):
        self.data.delete(request)
        return api_pb2.Empty()

    @_rpc
    async def DataObjectList(self, request, context):
        return self.data.list(request)

    # ---- network file systems (self.nfs: nodal.server.nfs.NfsService, set by main) ----
    @_rpc
    async def NfsWriteFile(self, request_iterator, context):
        return await self.nfs.write(request_iterator)

    @_stream_rpc
    async def NfsReadFile(self, request, context):
        async for chunk in self.nfs.read(request):
            yield chunk

    @_rpc
    async def NfsListFiles(self, request, context):
        return self.nfs.list(request)

    @_rpc
    async def NfsRemoveFile(self, request, context):
        self.nfs.remove(request)
        return api_pb2.Empty()

    # ---- web endpoints ----
    @_rpc
    async def WebInfo(self, request, context):
        return self._gateway().web_info(request)

    @_rpc
    async def ProxyAuthTokenCreate(self, request, context):
        if len(request.name) > 100:
            raise invalid("a proxy auth token name is at most 100 characters")
        token_id, secret = self._gateway().tokens.create(request.name, identity.current().workspace)
        self._record("proxy_token.create", token_id, f"name={request.name}")
        return api_pb2.ProxyAuthTokenCreateResponse(token_id=token_id, token_secret=secret)

    def _gateway(self):
        gateway = getattr(self, "gateway", None)  # nodal.server.gateway.Gateway, set by main
        if gateway is None:
            raise ApiError("ExecutionError", "this server has no web gateway")
        return gateway

    @_rpc
    async def VolumeRename(self, request, context):
        self.data.rename_volume(request)
        return api_pb2.Empty()

    @_rpc
    async def DataObjectHeartbeat(self, request, context):
        self.data.heartbeat(request.object_id)
        return api_pb2.Empty()

    @_rpc
    async def DictGet(self, request, context):
        return self.data.dict_get(request)

    @_rpc
    async def DictPut(self, request, context):
        return self.data.dict_put(request)

    @_rpc
    async def DictPop(self, request, context):
        return self.data.dict_pop(request)

    @_rpc
    async def DictLen(self, request, context):
        return api_pb2.DataCountResponse(count=self.data.dict_len(request))

    @_rpc
    async def DictClear(self, request, context):
        self.data.dict_clear(request)
        return api_pb2.Empty()

    @_rpc
    async def DictContents(self, request, context):
        return self.data.dict_contents(request)

    @_rpc
    async def QueuePut(self, request, context):
        return await self.data.queue_put(request)

    @_rpc
    async def QueueGet(self, request, context):
        return await self.data.queue_get(request)

    @_rpc
    async def QueueLen(self, request, context):
        return api_pb2.DataCountResponse(count=self.data.queue_len(request))

    @_rpc
    async def QueueClear(self, request, context):
        self.data.queue_clear(request)
        return api_pb2.Empty()

    @_rpc
    async def QueueNextItems(self, request, context):
        return await self.data.queue_next_items(request)

    @_stream_rpc
    async def DataStream(self, request_iterator, context):
        async for resp in self.data.stream(request_iterator):
            yield resp

    # ---- workers ----
    @_stream_rpc
    async def WorkerStream(self, request_iterator, context):
        import asyncio

        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first worker message must be hello")
        env: dict[str, str] = {}
        files: list = []
        spares = getattr(self.scheduler.launcher, "spares", None)
        spare = spares.identify(first.hello.container_id, first.hello.token) if spares is not None else None
        if spare is not None:  # a spare container waits here until a function takes it (or took it)
            adoption = await spares.wait_for_adoption(spare)
            if adoption is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "this spare container was retired")
            pool, slot, env, files = adoption
            found = pool, slot
        else:
            found = self.scheduler.worker_attached(first.hello.container_id, first.hello.token)
            if found is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown container or bad token")
        pool, slot = found
        yield api_pb2.WorkerDirective(
            init=api_pb2.ContainerInit(
                container_id=slot.container_id,
                app_id=pool.app_id,
                function_id=pool.function_id,
                definition=pool.definition,
                serialized_params=pool.params,
                app_function_ids=self.apps.app_function_ids(pool.app_id),
                env=env,
                files=files,
                snapshot=slot.snapshot,
            )
        )

        async def read() -> None:
            async for msg in request_iterator:
                which = msg.WhichOneof("msg")
                if which == "ready":
                    self.scheduler.worker_ready(pool, slot)
                elif which == "outputs":
                    self.scheduler.worker_outputs(pool, slot, list(msg.outputs.outputs))
                elif which == "init_failed":
                    self.scheduler.worker_init_failed(pool, slot, msg.init_failed.result)
                elif which == "snapshotted":
                    self.scheduler.worker_snapshotted(pool, slot)

        reader = asyncio.get_running_loop().create_task(read())
        try:
            while True:
                directive = await slot.send.get()
                if directive is None:
                    return
                yield directive
        finally:
            reader.cancel()

    # ---- sandboxes (nodal.server.sandboxes; `self.sandboxes` is set by main) ----
    @_rpc
    async def SandboxCreate(self, request, context):
        return await self.sandboxes.create(request)

    @_rpc
    async def SandboxGet(self, request, context):
        return self.sandboxes.get_info(request.sandbox_id)

    @_rpc
    async def SandboxWait(self, request, context):
        return await self.sandboxes.wait(request)

    @_rpc
    async def SandboxTerminate(self, request, context):
        await self.sandboxes.terminate(request.sandbox_id)
        return api_pb2.Empty()

    @_rpc
    async def SandboxList(self, request, context):
        response = self.sandboxes.list(request)
        if self.scope is not None and (self.scope.other_workspaces or identity.current().kind == "container"):
            visible = [sb for sb in response.sandboxes if self._visible_app(sb.app_id)]
            del response.sandboxes[:]
            response.sandboxes.extend(visible)
        return response

    @_rpc
    async def SandboxSetTags(self, request, context):
        self.sandboxes.set_tags(request)
        return api_pb2.Empty()

    # ---- modal.interact() (nodal.server.interact) ----
    @_stream_rpc
    async def InteractStream(self, request_iterator, context):
        hub = getattr(self, "interact", None)
        if hub is None:
            from nodal.server.interact import InteractHub

            def app_of_container(container_id: str) -> str | None:
                found = self.scheduler.slots.get(container_id)
                return found[0].app_id if found is not None else None

            hub = self.interact = InteractHub(app_of_container)
        who = identity.current()

        def live_app(app_id: str) -> None:
            if self.apps.require_app(app_id).state not in LIVE_STATES:
                raise ApiError("ExecutionError", f"app {app_id} is stopped: there is nothing to interact with")

        async for resp in hub.stream(request_iterator, who.container_id if who.kind == "container" else "", live_app):
            yield resp

    @_stream_rpc
    async def ProcessStream(self, request_iterator, context):
        from nodal.server.sandbox_exec import process_stream

        async for resp in process_stream(self.sandboxes, request_iterator):
            yield resp

    @_rpc
    async def SandboxFs(self, request, context):
        return await self.sandboxes.fs.request(request)

    @_stream_rpc
    async def SandboxWatch(self, request, context):
        async for event in self.sandboxes.fs.watch(request):
            yield event

    @_rpc
    async def SandboxSnapshotFs(self, request, context):
        return await self.sandboxes.snapshot(request)

    @_rpc
    async def SandboxTunnels(self, request, context):
        return await self.sandboxes.get_tunnels(request)

    @_rpc
    async def TunnelOpen(self, request, context):
        return await self.sandboxes.open_forward(request)

    @_rpc
    async def TunnelClose(self, request, context):
        await self.sandboxes.close_forward(request)
        return api_pb2.Empty()

    @_rpc
    async def ContainerList(self, request, context):
        response = self.sandboxes.list_containers(self.scheduler, request)
        if self.scope is not None and self.scope.other_workspaces:
            visible = [c for c in response.containers if self._visible_app(c.app_id)]
            del response.containers[:]
            response.containers.extend(visible)
        return response

    @_rpc
    async def ContainerStop(self, request, context):
        await self.sandboxes.stop_container(self.scheduler, request.container_id)
        return api_pb2.Empty()
