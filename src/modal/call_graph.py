"""modal.call_graph: the tree of inputs a FunctionCall spawned, as `FunctionCall.get_call_graph()` returns it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class InputStatus(IntEnum):
    """Enum representing status of a function input.

    Values are Modal's (its GenericResult statuses), so they survive a round trip through
    the API unchanged. Any unknown value reads as PENDING.
    """

    PENDING = 0
    SUCCESS = 1
    FAILURE = 2
    TERMINATED = 3
    TIMEOUT = 4
    INIT_FAILURE = 5

    @classmethod
    def _missing_(cls, value: object) -> InputStatus:
        return cls.PENDING


@dataclass
class InputInfo:
    """Simple data structure storing information about a function input."""

    input_id: str
    function_call_id: str
    task_id: str
    status: InputStatus
    function_name: str
    module_name: str
    children: list[InputInfo]
