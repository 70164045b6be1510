"""`modal.interact()`: a container's terminal, relayed to the frontend of its app.

`modal run -i` (an app run with `interactive=True`) opens an `InteractStream` for its app and
keeps it open while the app runs: it is the app's frontend. A container of that app calling
`modal.interact()` (or `breakpoint()`, which calls it first) opens its own `InteractStream`;
the server pairs the two and relays bytes: the frontend's keystrokes to the container's
terminal, the terminal's output to the frontend. One container at a time per frontend: a
second one waits until the first's session ends. A container of an app with no frontend is
refused at once (`InteractiveTimeoutError`), so `breakpoint()` without `-i` does not hang.

Unbounded waits here are on purpose: a frontend waits for sessions as long as its app runs,
and a session lasts as long as the container keeps it (both end when their stream closes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid

log = logging.getLogger(__name__)

MAX_CHUNK = 1 << 20  # bytes per data message
_ATTACHED = object()  # queued to a container when its session's frontend is attached


@dataclass
class _Session:
    """One container's terminal while a frontend is attached to it."""

    container_id: str
    to_container: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes | None (end)
    to_frontend: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes | None (end)


@dataclass
class _Frontend:
    sessions: asyncio.Queue = field(default_factory=asyncio.Queue)  # _Session, in the order they came
    current: _Session | None = None


class InteractHub:
    """Pairs containers' sessions with their app's frontend; runs on the server's event loop."""

    def __init__(self, app_of_container: Callable[[str], str | None]) -> None:
        """`app_of_container(container_id)`: the app a running container belongs to (None if none)."""
        self.app_of_container = app_of_container
        self.frontends: dict[str, _Frontend] = {}

    async def stream(self, requests: AsyncIterator[api_pb2.InteractMessage], container_id: str,
                     live_app: Callable[[str], None]) -> AsyncIterator[api_pb2.InteractMessage]:
        """Serve one InteractStream: a container's session when `container_id` is set (the
        caller's credential), else a frontend's. `live_app(app_id)` raises unless the frontend
        may attach to that app."""
        first = await anext(requests, None)
        if first is None or first.WhichOneof("msg") != "open":
            raise invalid("the first InteractStream message must be open")
        if container_id:
            async for msg in self._container(requests, container_id):
                yield msg
            return
        app_id = first.open.app_id
        live_app(app_id)
        async for msg in self._frontend(requests, app_id):
            yield msg

    # ---------- a frontend (modal run -i) ----------
    async def _frontend(self, requests: AsyncIterator[api_pb2.InteractMessage],
                        app_id: str) -> AsyncIterator[api_pb2.InteractMessage]:
        if app_id in self.frontends:
            raise ApiError("InvalidError", f"app {app_id} has an interactive frontend attached already")
        frontend = self.frontends[app_id] = _Frontend()
        yield api_pb2.InteractMessage(open=api_pb2.InteractOpen(app_id=app_id))  # registered: containers may come

        async def keystrokes() -> None:
            async for msg in requests:
                session = frontend.current
                if msg.WhichOneof("msg") == "data" and msg.data and session is not None:
                    session.to_container.put_nowait(msg.data[:MAX_CHUNK])

        reader = asyncio.get_running_loop().create_task(keystrokes())
        try:
            while True:
                sessions = asyncio.ensure_future(frontend.sessions.get())
                await asyncio.wait([sessions, reader], return_when=asyncio.FIRST_COMPLETED)
                if not sessions.done():  # the frontend went away
                    sessions.cancel()
                    return
                session = frontend.current = sessions.result()
                session.to_container.put_nowait(_ATTACHED)
                yield api_pb2.InteractMessage(attached=True)  # the frontend's keystrokes go to it now
                while (chunk := await session.to_frontend.get()) is not None:
                    yield api_pb2.InteractMessage(data=chunk)
                frontend.current = None
                yield api_pb2.InteractMessage(end=True)
        finally:
            reader.cancel()
            self.frontends.pop(app_id, None)
            for session in [frontend.current, *_drain(frontend.sessions)]:
                if session is not None:
                    session.to_container.put_nowait(None)

    # ---------- a container (modal.interact()) ----------
    async def _container(self, requests: AsyncIterator[api_pb2.InteractMessage],
                         container_id: str) -> AsyncIterator[api_pb2.InteractMessage]:
        app_id = self.app_of_container(container_id)
        frontend = self.frontends.get(app_id or "")
        if frontend is None:
            raise ApiError("InteractiveTimeoutError", "no interactive frontend is attached to this app: run it with "
                           "`modal run -i` (or app.run(interactive=True)) to use modal.interact() or breakpoint()")
        session = _Session(container_id)
        frontend.sessions.put_nowait(session)

        async def output() -> None:
            try:
                async for msg in requests:
                    if msg.WhichOneof("msg") == "data":
                        session.to_frontend.put_nowait(msg.data[:MAX_CHUNK])
            finally:  # the container ended its session (or its stream broke)
                session.to_frontend.put_nowait(None)
                session.to_container.put_nowait(None)

        reader = asyncio.get_running_loop().create_task(output())
        try:
            while (chunk := await session.to_container.get()) is not None:
                yield api_pb2.InteractMessage(attached=True) if chunk is _ATTACHED else api_pb2.InteractMessage(data=chunk)
        finally:
            reader.cancel()
            session.to_frontend.put_nowait(None)


def _drain(queue: asyncio.Queue) -> list:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
