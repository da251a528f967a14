"""The cost of one action against its step number, as an SVG written by hand (no plotting dependency)."""

from __future__ import annotations

from pathlib import Path

COLOURS = {"sqlite": "#1f77b4", "postgresql": "#d62728"}


def write_svg(path: Path, curves: list[tuple[str, list[tuple[int, float]]]], width=720, height=360) -> None:
    pad = 50
    points = [(s, c * 1000) for _n, cs in curves for s, c in cs] or [(0, 0.0)]
    max_x = max(s for s, _ in points) or 1
    max_y = max(c for _, c in points) or 1.0

    def xy(step, ms):
        return pad + (width - 2 * pad) * step / max_x, height - pad - (height - 2 * pad) * ms / max_y

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">step (action number in one case)</text>',
             f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" text-anchor="middle">'
             f'ms per action</text>',
             f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{max_y:.0f}</text>',
             f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">{max_x}</text>']
    for i, (name, cs) in enumerate(curves):
        colour = COLOURS.get(name, "#2ca02c")
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, c * 1000) for s, c in cs))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{line}"/>')
        parts.append(f'<text x="{width - pad - 100}" y="{pad + 16 * i}" fill="{colour}">{name}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
