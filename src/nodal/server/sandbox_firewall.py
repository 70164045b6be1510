"""`cidr_allowlist`: a sandbox may reach only the networks it lists.

Enforced by the sandbox's own routing table, set by the server before the
sandbox's command starts: the default route that slirp4netns made is removed
and one route per allowed CIDR is added through the NAT's gateway. Anything
else gets "network unreachable". The sandbox cannot change its routes: it holds
no CAP_NET_ADMIN. The NAT's own subnet (10.0.2.0/24: gateway, DNS forwarder at
10.0.2.3) stays reachable; the host's loopback does not, as for every sandbox.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil

from nodal.server.errors import invalid

NAT_GATEWAY = "10.0.2.2"


def parse_cidrs(cidrs: list[str]) -> list[ipaddress.IPv4Network]:
    """The allowlist as networks; InvalidError naming the entry that is not an IPv4 CIDR."""
    out = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise invalid(f"cidr_allowlist entry {text!r} is not a CIDR such as '10.0.0.0/8'") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise invalid(f"cidr_allowlist entry {text!r}: only IPv4 networks are supported")
        out.append(net)
    return out


async def _ip(pid: int, *args: str) -> None:
    nsenter, ip = shutil.which("nsenter"), shutil.which("ip")
    if nsenter is None or ip is None:
        raise RuntimeError("cidr_allowlist needs `nsenter` and `ip` (iproute2) on the server host")
    proc = await asyncio.create_subprocess_exec(
        nsenter, "-t", str(pid), "-n", "--", ip, *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.decode(errors='replace').strip()}")


async def apply_allowlist(pid: int, cidrs: list[str]) -> None:
    """Replace the default route of `pid`'s network namespace by routes to `cidrs` only."""
    networks = parse_cidrs(cidrs)
    await _ip(pid, "route", "del", "default")
    for net in networks:
        if net.prefixlen == 0:
            await _ip(pid, "route", "add", "default", "via", NAT_GATEWAY, "dev", "tap0")
        else:
            await _ip(pid, "route", "replace", str(net), "via", NAT_GATEWAY, "dev", "tap0")
