"""Bar charts drawn on the server as inline SVG: no script, nothing fetched from elsewhere.

This module only computes geometry; ``macros.html:bar_chart`` turns it into SVG, so every
label goes through Jinja's escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: float
    width: float
    height: float
    alert: bool
    text: str  # what the bar says: its value, or a mark for a hidden one ("<5")
    tone: str = ""  # "alert" (overdue), "soon" (due soon) or "" (a plain count)


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    width: int
    height: int
    label_width: int
    bars: tuple[Bar, ...]


def bar_chart(
    chart_id: str,
    title: str,
    data: Iterable[tuple[str, int]],
    *,
    alert: bool = False,
    width: int = 420,
    label_width: int = 150,
    bar_height: int = 24,
    gap: int = 8,
    texts: Sequence[str] | None = None,
    tones: Sequence[str] | None = None,
) -> BarChart:
    """Horizontal bars, longest = the plot width (less room for the value label);
    ``texts``, if given, say what each bar shows instead of its value; ``tones``, each
    bar's colour ("alert" for overdue, "soon" for due soon), else ``alert`` colours every
    bar with a value as overdue."""
    rows = list(data)
    plot = width - label_width - 40
    top = max((value for _, value in rows), default=0) or 1
    bars = tuple(
        Bar(
            label=label,
            value=value,
            y=gap + i * (bar_height + gap),
            width=round(plot * value / top, 1),
            height=bar_height,
            alert=(tones[i] == "alert" if tones is not None else alert) and value > 0,
            text=texts[i] if texts is not None else str(value),
            tone=_tone(tones[i] if tones is not None else "alert" if alert else "", value),
        )
        for i, (label, value) in enumerate(rows)
    )
    height = max(gap + len(bars) * (bar_height + gap), 40)
    return BarChart(chart_id, title, width, height, label_width, bars)


def _tone(tone: str, value: int) -> str:
    """A bar of nothing is never coloured as a warning."""
    return tone if value > 0 else ""
