"""A small inline SVG chart: calls per minute (bars, failures stacked in red) and mean latency
per minute (a line on its own scale). Plain SVG text, no chart library, no script."""

from __future__ import annotations

import time
from html import escape

WIDTH, HEIGHT, PAD, AXIS, RIGHT = 680, 160, 8, 40, 60


def _fmt_seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def calls_chart(minutes: list[dict]) -> str:
    """SVG markup for per-minute buckets ({minute, calls, failures, mean_latency}, oldest first)."""
    n = max(1, len(minutes))
    plot_w, plot_h = WIDTH - AXIS - RIGHT, HEIGHT - 2 * PAD - 14
    peak = max([m["calls"] for m in minutes] + [1])
    lat_peak = max([m["mean_latency"] or 0.0 for m in minutes] + [1e-9])
    bar_w = plot_w / n
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'aria-label="Calls and mean latency per minute over the last {n} minutes">',
        f'<title>Calls per minute (bars; failures in red) and mean latency (line), last {n} minutes</title>',
        f'<text x="0" y="{PAD + 10}" class="axis">{peak}</text>',
        f'<text x="0" y="{PAD + plot_h}" class="axis">0</text>',
        f'<text x="{WIDTH - RIGHT + 6}" y="{PAD + 10}" class="axis lat">'
        f'{escape(_fmt_seconds(lat_peak)) if lat_peak > 1e-9 else ""}</text>',
    ]
    points = []
    for i, m in enumerate(minutes):
        x = AXIS + i * bar_w
        h_all = plot_h * m["calls"] / peak
        h_fail = plot_h * m["failures"] / peak
        label = time.strftime("%H:%M", time.localtime(m["minute"]))
        tip = f'{label}: {m["calls"]} calls, {m["failures"]} failed'
        if m["mean_latency"] is not None:
            tip += f', mean {_fmt_seconds(m["mean_latency"])}'
        parts.append(f'<g><title>{escape(tip)}</title>'
                     f'<rect class="ok" x="{x + 1:.1f}" y="{PAD + plot_h - h_all:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                     f'height="{h_all - h_fail:.1f}"/>'
                     f'<rect class="fail" x="{x + 1:.1f}" y="{PAD + plot_h - h_fail:.1f}" '
                     f'width="{max(bar_w - 2, 1):.1f}" height="{h_fail:.1f}"/></g>')
        if m["mean_latency"] is not None:
            points.append(f'{x + bar_w / 2:.1f},{PAD + plot_h - plot_h * m["mean_latency"] / lat_peak:.1f}')
    if len(points) > 1:
        parts.append(f'<polyline class="lat" fill="none" points="{" ".join(points)}"/>')
    for p in points if len(points) == 1 else ():
        x, y = p.split(",")
        parts.append(f'<circle class="lat" cx="{x}" cy="{y}" r="3"/>')
    if minutes:
        first = time.strftime("%H:%M", time.localtime(minutes[0]["minute"]))
        last = time.strftime("%H:%M", time.localtime(minutes[-1]["minute"]))
        parts.append(f'<text x="{AXIS}" y="{HEIGHT - 2}" class="axis">{first}</text>')
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 2}" class="axis" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)
