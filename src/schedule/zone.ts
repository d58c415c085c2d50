import { readlinkSync, statSync } from 'node:fs';

/**
 * Time-zone arithmetic from the runtime's own tz database (Intl), without a dependency.
 *
 * A zone's UTC offset is piecewise constant; schedd needs the pieces (the transitions) to map a
 * local wall-clock slot to instants exactly as Vixie cron does around DST. Intl only answers
 * "what is the wall time at instant T", so transitions are found by sampling a whole year a day
 * at a time and bisecting each change to the second; the result is cached per zone and year.
 * Two transitions within one day would be missed; the tz database has none since 1970.
 */

export interface Transition {
  /** The first instant (epoch ms) of the new offset. */
  at: number;
  offsetBeforeMs: number;
  offsetAfterMs: number;
}

const SAMPLE_MS = 7 * 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const yearCache = new Map<string, Transition[]>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** True when the runtime knows this IANA zone name. */
export function isValidZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

const ZONEINFO = '/usr/share/zoneinfo/';
let hostZone: string | null = null;

/**
 * The zone the process runs in (honours TZ), as the runtime resolves it. Read from TZ or the
 * /etc/localtime link when they name a zone file, as ICU does, so that asking costs no Intl:
 * Intl's first use maps about 10 MB of time-zone data, which a daemon holding only services
 * never needs. Anything else (a copied /etc/localtime, a POSIX TZ rule) is Intl's to answer.
 */
export function systemZone(): string {
  hostZone ??= namedHostZone() ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
  return hostZone;
}

/** What ICU calls UTC (it answers `UTC` for each): servers run in it more than in any other. */
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu', 'Etc/GMT', 'GMT', 'Etc/GMT0', 'GMT0', 'Etc/GMT+0', 'Etc/GMT-0', 'Etc/Greenwich', 'Greenwich']);

/** Files of the zoneinfo tree that are not zones ICU knows. */
const NOT_ZONES = new Set(['Factory', 'posixrules', 'localtime', 'leapseconds', 'zone.tab', 'zone1970.tab', 'iso3166.tab', 'tzdata.zi']);

function namedHostZone(): string | null {
  let name = zoneFileName();
  // posix/ and right/ hold the same zones (right/ with leap seconds): ICU knows them bare.
  if (name !== null) name = name.replace(/^(posix|right)\//, '');
  if (name === null || NOT_ZONES.has(name)) return null;
  return UTC_NAMES.has(name) ? 'UTC' : name;
}

/** The zone file TZ or /etc/localtime names (a link other than ICU's canonical name may come back as written). */
function zoneFileName(): string | null {
  const tz = process.env.TZ;
  const isZoneFile = (name: string): boolean => /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name) && isFile(`${ZONEINFO}${name}`);
  if (tz !== undefined) return tz !== '' && isZoneFile(tz) ? tz : null;
  try {
    const target = readlinkSync('/etc/localtime');
    const at = target.lastIndexOf('zoneinfo/');
    const name = at === -1 ? '' : target.slice(at + 'zoneinfo/'.length);
    return isZoneFile(name) ? name : null;
  } catch {
    return null;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Offset of the zone at an instant, in ms (wall = instant + offset), by asking Intl. */
function probeOffset(zone: string, instantMs: number): number {
  const whole = Math.floor(instantMs / 1000) * 1000;
  const parts = formatterFor(zone).formatToParts(new Date(whole));
  const field = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let bc = false;
  for (const part of parts) {
    if (part.type === 'era') bc = part.value === 'BC' || part.value === 'B';
    else if (part.type in field) field[part.type as keyof typeof field] = Number(part.value);
  }
  const year = bc ? 1 - field.year : field.year;
  const wall = Date.UTC(year, field.month - 1, field.day, field.hour, field.minute, field.second);
  return wall - whole;
}

function transitionsOfYear(zone: string, year: number): Transition[] {
  const key = `${zone}\u0000${year}`;
  const cached = yearCache.get(key);
  if (cached !== undefined) return cached;
  const found: Transition[] = [];
  const end = Date.UTC(year + 1, 0, 1);
  let previousAt = Date.UTC(year, 0, 1);
  let previousOffset = probeOffset(zone, previousAt);
  for (let at = previousAt + SAMPLE_MS; previousAt < end; at = Math.min(at + SAMPLE_MS, end)) {
    const offset = probeOffset(zone, at);
    if (offset !== previousOffset) {
      // Bisect to the second: lo has the old offset, hi the new one.
      let lo = previousAt;
      let hi = at;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (probeOffset(zone, mid) === previousOffset) lo = mid;
        else hi = mid;
      }
      if (hi < end) found.push({ at: hi, offsetBeforeMs: previousOffset, offsetAfterMs: offset });
    }
    previousAt = at;
    previousOffset = offset;
  }
  yearCache.set(key, found);
  return found;
}

function utcYear(instantMs: number): number {
  return new Date(instantMs).getUTCFullYear();
}

/** The offset in effect at an instant. */
export function offsetAt(zone: string, instantMs: number): number {
  const year = utcYear(instantMs);
  const transitions = transitionsOfYear(zone, year);
  let offset: number | undefined;
  for (const transition of transitions) {
    if (transition.at <= instantMs) offset = transition.offsetAfterMs;
    else {
      offset ??= transition.offsetBeforeMs;
      break;
    }
  }
  return offset ?? probeOffset(zone, Date.UTC(year, 0, 1));
}

/**
 * The first transition strictly after `afterMs`, looking no further than `horizonMs`;
 * null when the offset does not change in that window.
 */
export function nextTransition(zone: string, afterMs: number, horizonMs: number): Transition | null {
  for (let year = utcYear(afterMs); year <= utcYear(horizonMs); year++) {
    for (const transition of transitionsOfYear(zone, year)) {
      if (transition.at > afterMs) return transition.at <= horizonMs ? transition : null;
    }
  }
  return null;
}

/** The last transition at or before `instantMs`, looking back at most a year and a day. */
export function previousTransition(zone: string, instantMs: number): Transition | null {
  const year = utcYear(instantMs);
  for (const y of [year, year - 1]) {
    const transitions = transitionsOfYear(zone, y);
    for (let i = transitions.length - 1; i >= 0; i--) {
      const transition = transitions[i]!;
      if (transition.at <= instantMs) return transition;
    }
  }
  return null;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `2026-03-08T03:00:00-04:00`: the instant as wall time in the zone, with its UTC offset. */
export function formatInstant(instantMs: number, zone: string): string {
  const offsetMs = offsetAt(zone, instantMs);
  const wall = new Date(instantMs + offsetMs);
  const sign = offsetMs < 0 ? '-' : '+';
  const offsetMinutes = Math.round(Math.abs(offsetMs) / 60_000);
  const date = `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}`;
  const time = `${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`;
  return `${date}T${time}${sign}${pad(Math.floor(offsetMinutes / 60))}:${pad(offsetMinutes % 60)}`;
}

/** Wall-clock time of an instant in the zone, as a UTC-based epoch number (for field maths). */
export function wallOf(instantMs: number, zone: string): number {
  return instantMs + offsetAt(zone, instantMs);
}
