"""Object identifiers: a short type prefix plus random hex, like Modal's (`fu-…`, `fc-…`)."""

from __future__ import annotations

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


def is_id(value: str, kind: str) -> bool:
    return bool(_ID_RE.match(value)) and value.startswith(PREFIXES[kind] + "-")
