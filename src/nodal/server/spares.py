"""Pre-started containers: one per recently used image, booted and waiting to be given a function.

Most of a cold start is Python importing the worker and the SDK inside the new container. A
spare container of an image has done that already; when a function of that image needs a new
container, the scheduler takes the spare instead of starting one, and the server sends the
function's own parts (its environment, its code files) with the container's init. The function
then sees what a container started for it would show: the image, its secrets and environment,
its code at the same paths, `MODAL_TASK_ID` equal to the container id.

Web endpoint functions get spares of their own kind (with the gateway's socket directory bound
and the web server imported). What a spare cannot be given late, it is not used for: volumes,
network file systems and bucket mounts (bound at start), GPUs, `block_network`, cpu/memory
limits (the container's cgroup), interpreter start-up variables (`PYTHON*`, `LD_*`, the
locale's `LANG`/`LC_*`) and large code mounts. Those functions start a container of their
own, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nodal.proto import api_pb2
from nodal.server.ids import new_id

log = logging.getLogger(__name__)

IDLE_SECONDS = 600.0  # an unused spare is stopped after this long
MAX_IMAGES = 2  # kinds (image, web or not) with a spare at once; the least recently used gives its up
MAX_CODE_BYTES = 8 * 1024 * 1024  # code sent with the init; a bigger app starts its own container
MAX_CODE_FILES = 2000
# Read when the interpreter (or the C library under it) starts: too late to set in a spare.
_STARTUP_VARIABLES = ("PYTHON", "LD_", "LC_", "LANG", "LANGUAGE")


@dataclass
class Spare:
    container_id: str
    token: str
    image_id: str
    web: bool = False  # for web endpoint functions: the gateway's socket directory, uvicorn imported
    state: str = "starting"  # starting -> waiting (its worker is connected) -> adopted | stopped
    booting: bool = True  # its worker has not connected yet (adopted or not)
    started_at: float = field(default_factory=time.monotonic)
    adoption: asyncio.Future | None = None  # resolves to (pool, slot, env, files) or None (retired)
    adopter: Any = None  # the ContainerSlot it became: logs and exit go there from then on
    on_log: Callable[[str, str, str], None] | None = None
    on_exit: Callable[[str, int], Any] | None = None


class SpareContainers:
    """Starts, hands out and retires spare containers; all methods run on the server's loop."""

    def __init__(self, runtime: Any, start: Callable[[Spare], Awaitable[None]], store: Any,
                 code_size: Callable[[str], int], limit: int = 1) -> None:
        """`start(spare)` starts the container for `spare` (ContainerLauncher.start_spare);
        `store` is the metadata store (apps' code lists), `code_size(sha)` a code blob's size;
        `limit` is the number of spares per image (0 turns spares off)."""
        self.runtime = runtime
        self._start = start
        self.store = store
        self.code_size = code_size
        self.limit = limit
        self.by_id: dict[str, Spare] = {}
        self.by_image: OrderedDict[tuple[str, bool], list[Spare]] = OrderedDict()  # by kind, least recently used first
        self._reaper: asyncio.TimerHandle | None = None

        self._deferred: set[tuple[str, bool]] = set()  # kinds to replenish once their boot finishes
        self._code_fits: dict[tuple[str, str], bool] = {}  # (app id, its code) -> small enough

    # ---------- which functions a spare can serve ----------
    def fits(self, definition: api_pb2.FunctionDef, app_id: str, gpu_request: str = "",
             secret_env: Callable[[], dict[str, str]] | None = None) -> bool:
        """Whether a function's container can be a spare given its parts late (see the module)."""
        d = definition
        if (self.limit <= 0 or gpu_request or d.block_network or d.volume_mounts or d.nfs_mounts
                or d.bucket_mounts or d.cpu_limit or d.memory_limit_mb):
            return False
        if any(k.startswith(_STARTUP_VARIABLES) for k in d.env):
            return False
        if secret_env is not None and any(k.startswith(_STARTUP_VARIABLES) for k in secret_env()):
            return False
        app = self.store.get_app(app_id)
        if app is None:
            return False
        key = (app_id, app.code_json)
        fits = self._code_fits.get(key)
        if fits is None:
            code = json.loads(app.code_json)
            fits = len(code) <= MAX_CODE_FILES and sum(self.code_size(sha) for _, sha, _ in code) <= MAX_CODE_BYTES
            if len(self._code_fits) > 1000:
                self._code_fits.clear()
            self._code_fits[key] = fits
        return fits

    # ---------- the scheduler's side ----------
    @staticmethod
    def kind(definition: api_pb2.FunctionDef) -> tuple[str, bool]:
        """The kind of spare a function takes: its image, and whether it serves the web."""
        return definition.image_id, bool(definition.web_endpoints)

    def take(self, kind: tuple[str, bool]) -> Spare | None:
        """A spare of `kind` (see `kind`), now the caller's (None if there is none).

        A booted one first, else one still booting: it started before any container started
        now could, so it is ready sooner, and one boot at a time leaves the cores to it."""
        spares = self.by_image.get(kind, [])
        ready = [s for s in spares if s.state == "waiting"]
        for spare in ready or spares[:1]:
            spare.state = "adopted"
            spares.remove(spare)
            self.by_image.move_to_end(kind)
            return spare
        return None

    def adopt(self, spare: Spare, pool: Any, slot: Any, env: dict[str, str],
              files: list[api_pb2.ContainerFile]) -> None:
        """Give `spare` to `slot` of `pool`: its worker gets the function's init."""
        spare.adopter = slot
        if spare.adoption is not None and not spare.adoption.done():
            spare.adoption.set_result((pool, slot, env, files))

    def release(self, spare: Spare) -> None:
        """Forget an adopted spare (its container is the slot's now, or has ended)."""
        self.by_id.pop(spare.container_id, None)

    def replenish(self, kind: tuple[str, bool]) -> None:
        """Keep `limit` spares of `kind` started (in the background). While one of that kind is
        still booting (taken or not), the next waits for it to finish: boots in parallel on
        a small machine only slow each other, and the function taking it, down."""
        if self.limit <= 0:
            return
        spares = self.by_image.setdefault(kind, [])
        self.by_image.move_to_end(kind)
        if any(s.booting for s in self.by_id.values() if (s.image_id, s.web) == kind):
            self._deferred.add(kind)
            return
        while len(self.by_image) > MAX_IMAGES:
            _, old = self.by_image.popitem(last=False)
            for spare in old:
                self._retire(spare)
        loop = asyncio.get_running_loop()
        while len(spares) < self.limit:
            spare = Spare(container_id=new_id("container"), token=secrets.token_hex(16), image_id=kind[0], web=kind[1])
            spare.adoption = loop.create_future()
            spares.append(spare)
            self.by_id[spare.container_id] = spare
            loop.create_task(self._boot(spare))
        if self._reaper is None:
            self._reaper = loop.call_later(IDLE_SECONDS / 4, self._reap)

    async def _boot(self, spare: Spare) -> None:
        try:
            await self._start(spare)
        except Exception:  # noqa: BLE001 - a spare is an optimisation: log, forget, carry on
            log.exception("could not start a spare container for image %s", spare.image_id)
            self._forget(spare)

    # ---------- the worker's side ----------
    def identify(self, container_id: str, token: str) -> Spare | None:
        spare = self.by_id.get(container_id)
        if spare is None or not secrets.compare_digest(spare.token, token):
            return None
        return spare

    async def wait_for_adoption(self, spare: Spare) -> tuple[Any, Any, dict[str, str], list] | None:
        """Park a connected spare's worker until a function takes it; None when it is retired.

        Unbounded on purpose: the spare waits for work until it is retired (idle, evicted, or the
        server stopping), which resolves this with None."""
        if spare.state == "starting":
            spare.state = "waiting"
        if spare.booting:
            spare.booting = False
            kind = (spare.image_id, spare.web)
            if kind in self._deferred:
                self._deferred.discard(kind)
                self.replenish(kind)
        assert spare.adoption is not None  # set when the spare was made
        return await spare.adoption

    def exited(self, spare: Spare) -> None:
        """The spare's container ended before anyone took it."""
        self._forget(spare)

    # ---------- retiring ----------
    def _forget(self, spare: Spare) -> None:
        self.by_id.pop(spare.container_id, None)
        spare.booting = False
        spares = self.by_image.get((spare.image_id, spare.web))
        if spares is not None and spare in spares:
            spares.remove(spare)
        if spare.state != "adopted":
            spare.state = "stopped"
        if spare.adoption is not None and not spare.adoption.done():
            spare.adoption.set_result(None)

    def _retire(self, spare: Spare) -> None:
        self._forget(spare)
        asyncio.get_running_loop().create_task(self.runtime.stop(spare.container_id, 1.0))

    def _reap(self) -> None:
        self._reaper = None
        now = time.monotonic()
        for kind, spares in list(self.by_image.items()):
            for spare in list(spares):
                if now - spare.started_at >= IDLE_SECONDS:
                    self._retire(spare)
            if not spares:
                self.by_image.pop(kind, None)
        if self.by_id:
            self._reaper = asyncio.get_running_loop().call_later(IDLE_SECONDS / 4, self._reap)

    def stop_all(self) -> None:
        """Retire every spare (the server is stopping)."""
        for spares in list(self.by_image.values()):
            for spare in list(spares):
                self._retire(spare)
        self.by_image.clear()
