"""SMS length: characters and segments, GSM-7 or UCS-2 (mirrored by static/js/sms-count.js).

GSM-7 (every character in the GSM 03.38 basic set or its extension table; extension characters take
two septets): one message holds 160 septets, a multi-part message 153 per part. Any other character
makes the whole message UCS-2: 70 UTF-16 code units, or 67 per part.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM_BASIC)
_EXTENDED = frozenset(GSM_EXTENDED)


@dataclass(frozen=True)
class SmsCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of each part at this length


def sms_count(text: str) -> SmsCount:
    """How `text` travels as SMS: encoding, length in units and the number of parts."""
    if all(c in _BASIC or c in _EXTENDED for c in text):
        units = sum(2 if c in _EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SmsCount(encoding, units, 1 if units else 0, single)
    return SmsCount(encoding, units, math.ceil(units / multi), multi)


# A text that already tells how to opt out (the word STOP in capitals) gets no second instruction.
SAYS_STOP = re.compile(r"\bSTOP\b", re.ASCII)


def with_opt_out(text: str, opt_out: str | None = None) -> str:
    """The SMS as sent: `text` ending with the opt-out instruction (settings.SMS_OPT_OUT_TEXT) on its own line,
    unless it is empty or the text already says STOP (mirrored by withOptOut in static/js/sms-count.js)."""
    if opt_out is None:
        from django.conf import settings

        opt_out = settings.SMS_OPT_OUT_TEXT
    if not opt_out or not text.strip() or SAYS_STOP.search(text):
        return text
    return f"{text.rstrip()}\n{opt_out}"
