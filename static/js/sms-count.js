// SMS length: GSM-7 (160 septets, 153 per part; extension characters take two) or UCS-2 (70 UTF-16 units,
// 67 per part). The same computation as campaigns/sms.py (tests keep them in step).
const GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
  + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED = "^{}\\[~]|€\f";

export function smsCount(text) {
  const chars = Array.from(text);
  const gsm = chars.every((c) => GSM_BASIC.includes(c) || GSM_EXTENDED.includes(c));
  let units; let single; let multi;
  if (gsm) {
    units = chars.reduce((n, c) => n + (GSM_EXTENDED.includes(c) ? 2 : 1), 0);
    single = 160; multi = 153;
  } else {
    units = text.length; // UTF-16 code units
    single = 70; multi = 67;
  }
  const segments = units <= single ? (units ? 1 : 0) : Math.ceil(units / multi);
  return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments, perSegment: units <= single ? single : multi };
}

export function describe(count) {
  const what = count.encoding === "GSM-7" ? "characters" : "UCS-2 units (special characters)";
  const left = count.segments ? count.segments * count.perSegment - count.units : count.perSegment;
  return `${count.units} ${what} · ${count.segments} SMS · ${left} left in this part`;
}

// The SMS as sent: the opt-out instruction on its own line at the end, unless empty or the text already says
// STOP (the same rule as campaigns/sms.py with_opt_out).
export function withOptOut(text, optOut) {
  if (!optOut || !text.trim() || /\bSTOP\b/.test(text)) return text;
  return `${text.trimEnd()}\n${optOut}`;
}
