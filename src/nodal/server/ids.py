"""Object identifiers: a short type prefix plus random hex, like Modal's (`fu-…`, `fc-…`)."""

from __future__ import annotations

import itertools
import re
import secrets

PREFIXES = {
    "app": "ap",
    "function": "fu",
    "call": "fc",
    "input": "in",
    "container": "ta",
    "image": "im",
    "secret": "st",
}

_ID_RE = re.compile(r"^[a-z]{2}-[0-9a-f]{8,64}$")


def new_id(kind: str) -> str:
    return f"{PREFIXES[kind]}-{secrets.token_hex(12)}"


# Input ids are made per input on the hot path: a random per-process prefix and a counter
# are unique without a system call each.
_INPUT_PREFIX = f"in-{secrets.token_hex(6)}"
_input_counter = itertools.count()


def new_input_id() -> str:
    return f"{_INPUT_PREFIX}{next(_input_counter):012x}"


def is_id(value: str, kind: str) -> bool:
    return bool(_ID_RE.match(value)) and value.startswith(PREFIXES[kind] + "-")
