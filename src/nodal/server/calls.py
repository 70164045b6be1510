"""Function calls and their inputs as the control plane tracks them.

A call is one `.remote()`, `.map()` or `.spawn()`: it owns its inputs and says
where their outputs go. Streamed calls (remote/map) send outputs straight to
the caller's stream; durable calls (spawn) keep them for `FunctionCall.get`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nodal.proto import api_pb2

OutputSink = Callable[[api_pb2.Output], None]

TERMINAL = {
    api_pb2.RESULT_STATUS_SUCCESS,
    api_pb2.RESULT_STATUS_FAILURE,
    api_pb2.RESULT_STATUS_TIMEOUT,
    api_pb2.RESULT_STATUS_TERMINATED,
    api_pb2.RESULT_STATUS_INIT_FAILURE,
    api_pb2.RESULT_STATUS_INTERNAL_FAILURE,
}


@dataclass
class Call:
    call_id: str
    pool_key: str
    function_name: str
    sink: OutputSink | None = None  # streamed calls
    durable: bool = False
    parent_input_id: str = ""
    created_at: float = field(default_factory=time.time)
    cancelled: bool = False
    # Durable calls keep their outputs until fetched (generators: every item).
    outputs: list[api_pb2.Output] = field(default_factory=list)
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    open_inputs: set[str] = field(default_factory=set)
    inputs_closed: bool = False  # the caller sent its last input
    input_ids: list[str] = field(default_factory=list)  # kept for the call graph (durable/child calls)
    status: int = 0  # final status of the last input, for the call graph

    def deliver(self, output: api_pb2.Output) -> None:
        if self.sink is not None:
            self.sink(output)
        if self.durable:
            self.outputs.append(output)
            self.changed.set()


@dataclass(slots=True)
class PendingInput:
    """One input waiting for, or running in, a container."""

    input_id: str
    call: Call
    input: api_pb2.Input
    attempt: int = 0
    container_id: str = ""
    started_at: float = 0.0
    gen_items: int = 0
    cancelled: bool = False


def failure(status: int, message: str) -> api_pb2.Result:
    """A result the control plane makes itself (timeouts, crashes, cancellations)."""
    return api_pb2.Result(status=status, exception=message)
