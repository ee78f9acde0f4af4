"""Template hygiene: what Django would print to the page instead of hiding."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_comment_spans_lines():
    """`{# … #}` is single-line only: a comment that spans lines is printed on the page."""
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for text in [path.read_text()]
        for match in re.finditer(r"\{#(?:(?!#\}).)*\n", text)
    ]
    assert offenders == [], "use {% comment %} for these: " + ", ".join(offenders)
