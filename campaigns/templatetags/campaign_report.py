"""Rates on the campaign report: "38.2 %" and the width of a rate bar (an SVG attribute: no style attributes)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """0.3817 → "38.2 %"; None (nothing to divide by) → "–"."""
    if rate is None:
        return "–"
    value = rate * 100
    if value and value < 0.1:
        return "< 0.1 %"
    return f"{value:.1f} %".replace(".0 %", " %")


@register.filter
def bar_width(rate: float | None) -> str:
    """The filled part of a 100-unit wide rate bar (0–100, one decimal)."""
    if not rate:
        return "0"
    return f"{min(max(rate, 0.0), 1.0) * 100:.1f}"
