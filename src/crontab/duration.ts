const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `2h`, `1d`, `1h30m`, `500ms`, or `0`; null when not a duration. */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : null;
}

/** The inverse, for display: 90000 -> `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
