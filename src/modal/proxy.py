"""`modal.Proxy`: a static outbound IP address for containers, in hosted Modal.

A Nodal server has no proxies: its containers reach the network through their host's own
address (or none, with `block_network=True`). Looking one up says so, as for any object that
does not exist."""

from __future__ import annotations

from typing import Any

from modal.exception import NotFoundError


class Proxy:
    """A named static-IP proxy (hosted Modal only: none exist on a Nodal server)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("modal.Proxy objects are looked up with Proxy.from_name(), not constructed")

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, **kwargs: Any) -> Proxy:
        raise NotFoundError(
            f"proxy {name!r} not found: a Nodal server has no static-IP proxies; its containers use "
            "their host's network (give the host the address your allowlist expects)")
