import type { Spread } from './common.js';
import type { IdleRow } from './idle.js';
import type { Condition, LatenessRow, SlotMode } from './lateness.js';
import type { ServicePeerName } from './peers/service-types.js';
import type { PeerName } from './peers/start.js';
import type { ReloadRow } from './reload.js';
import type { ScaleRow } from './scale.js';
import type { ServiceRow, ServicesResult } from './services.js';
import type { SustainedRow } from './sustained.js';

/** Plain-text tables for the terminal and the markdown tables for the README. */

export function ms(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (Math.abs(value) >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (Math.abs(value) >= 100) return `${Math.round(value)} ms`;
  return `${value.toFixed(1)} ms`;
}

export function spreadText(s: Spread | undefined, unit: (v: number) => string = ms): string {
  if (s === undefined || s.n === 0) return '-';
  return s.n === 1 ? unit(s.median) : `${unit(s.median)} [${unit(s.min)}-${unit(s.max)}]`;
}

/** peer / schedd, for a figure where lower is better. */
export function ratio(peer: number | undefined, schedd: number | undefined): number | undefined {
  if (peer === undefined || schedd === undefined || Number.isNaN(peer) || Number.isNaN(schedd) || schedd <= 0) return undefined;
  return peer / schedd;
}

export function ratioText(r: number | undefined): string {
  if (r === undefined) return '';
  return r >= 10 ? `x${Math.round(r)}` : `x${r.toFixed(1)}`;
}

export function textTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const conditionOrder: Record<Condition, number> = { idle: 0, busy: 1 };

/** One row per peer, group and condition; a group's idle and busy rows next to each other. */
export function latenessTable(rows: readonly LatenessRow[], mode: SlotMode): string {
  const own = (r: LatenessRow): LatenessRow | undefined => rows.find((o) => o.peer === 'schedd' && o.jobs === r.jobs && o.mode === mode && o.condition === r.condition);
  const shown = rows.filter((r) => r.mode === mode).map((r, i) => ({ r, i }));
  shown.sort((x, y) => x.r.jobs - y.r.jobs || conditionOrder[x.r.condition] - conditionOrder[y.r.condition] || x.i - y.i);
  return textTable(
    ['peer', 'condition', 'jobs', 'slots (rounds)', 'started', 'first (median [range])', 'last (median [range])', 'p50', 'p99', 'max', 'first vs schedd', 'last vs schedd'],
    shown.map(({ r }) => {
      const head = [r.peer, r.condition, String(r.jobs), `${r.slots} (${r.rounds}${r.failedRounds ? `, ${r.failedRounds} failed` : ''})`];
      if (r.error !== undefined) return [...head, `error: ${r.error}`];
      const vs = (figure: (o: LatenessRow | undefined) => number | undefined): string => (r.peer === 'schedd' ? '' : ratioText(ratio(figure(r), figure(own(r)))));
      return [...head, `${r.started}/${r.expected}${r.dropped ? ` (${r.dropped} dropped)` : ''}`, spreadText(r.first), spreadText(r.last), ms(r.p50), ms(r.p99), ms(r.max), vs((o) => o?.first?.median), vs((o) => o?.last?.median)];
    }),
  );
}

export function idleTable(rows: readonly IdleRow[]): string {
  const own = rows.find((r) => r.peer === 'schedd');
  return textTable(
    ['peer', 'jobs', 'window', 'CPU', 'CPU %', 'wake-ups/s', 'RSS', 'threads', 'ready after', 'CPU vs schedd', 'RSS vs schedd'],
    rows.map((r) =>
      r.error !== undefined
        ? [r.peer, String(r.jobs), `error: ${r.error}`]
        : [r.peer, String(r.jobs), `${r.seconds} s`, `${r.cpuMs} ms`, `${r.cpuPercent!.toFixed(3)}%`, wakeups(r.wakeupsPerS!), `${r.rssMb!.toFixed(1)} MB`, String(r.threads), ms(r.startMs), r.peer === 'schedd' ? '' : ratioText(ratio(r.cpuMs, own?.cpuMs)), r.peer === 'schedd' ? '' : ratioText(ratio(r.rssMb, own?.rssMb))],
    ),
  );
}

export function reloadTable(rows: readonly ReloadRow[]): string {
  return textTable(
    ['peer', 'saves', 'save -> applied', 'save -> first start', 'first start after its slot', 'what it measures'],
    rows.map((r) => (r.error !== undefined ? [r.peer, String(r.saves), `error: ${r.error}`] : [r.peer, String(r.saves), spreadText(r.applied), spreadText(r.firstStart), spreadText(r.firstStartLate), r.how ?? ''])),
  );
}

export function scaleTable(rows: readonly ScaleRow[]): string {
  return textTable(
    ['what', 'entries', 'wall (median [range])', 'peak RSS'],
    rows.map((r) => (r.error !== undefined ? [r.what, String(r.entries), `error: ${r.error}`] : [r.what, String(r.entries), spreadText(r.wallMs), spreadText(r.peakRssMb, (v) => (Number.isNaN(v) ? '-' : `${v.toFixed(0)} MB`))])),
  );
}

export function sustainedTable(row: SustainedRow): string {
  if (row.error !== undefined) return `${row.peer}: error: ${row.error}`;
  const head = `${row.peer}: ${row.jobs} every-second jobs for ${row.seconds} s: ${row.started}/${row.expected} started (${row.dropped} dropped); at start RSS ${row.startRssMb!.toFixed(1)} MB, ${row.startFds} fds`;
  return `${head}\n${textTable(
    ['from', 'starts/s', 'p50', 'p99', 'max', 'recorded/s', 'RSS', 'fds', 'CPU %'],
    row.windows!.map((w) => [`${w.fromS} s`, w.startsPerS.toFixed(1), ms(w.p50Ms), ms(w.p99Ms), ms(w.maxMs), w.recordedPerS === undefined ? '-' : w.recordedPerS.toFixed(1), `${w.rssMb.toFixed(1)} MB`, String(w.fds), `${w.cpuPercent.toFixed(1)}%`]),
  )}`;
}

/** A markdown table with one column per peer, each figure with its ratio to `base`'s (schedd's). */
function comparison<P extends string>(cols: readonly P[], base: P): {
  row(what: string, value: (peer: P) => number | undefined, unit: (v: number) => string, extra?: (peer: P) => string): void;
  text(): string;
} {
  const lines: string[] = [`| what | ${cols.join(' | ')} |`, `| --- |${cols.map(() => ' --- |').join('')}`];
  return {
    row(what, value, unit, extra = () => '') {
      const own = value(base);
      const cells = cols.map((peer) => {
        const v = value(peer);
        if (v === undefined || Number.isNaN(v)) return 'n/a';
        const r = peer === base ? '' : ` (${ratioText(ratio(v, own))})`;
        return `${unit(v)}${r.trim() === '()' ? '' : r}${extra(peer)}`;
      });
      if (cells.every((cell) => cell === 'n/a')) return; // not measured in this run
      lines.push(`| ${what} | ${cells.join(' | ')} |`);
    },
    text: () => (lines.length > 2 ? lines.join('\n') : ''),
  };
}

/** The headline comparison, one column per peer, each peer's figure with its ratio to schedd's. */
export function markdownSummary(results: { lateness: LatenessRow[]; idle: IdleRow[]; reload: ReloadRow[] }, peers: readonly PeerName[]): string {
  const table = comparison(peers.filter((p) => p !== 'schedd-detached'), 'schedd');
  const row = table.row;
  const late = (peer: PeerName, mode: SlotMode, condition: Condition, jobs: number): LatenessRow | undefined =>
    results.lateness.find((r) => r.peer === peer && r.mode === mode && r.condition === condition && r.jobs === jobs && r.error === undefined);
  for (const mode of ['second', 'minute'] as const) {
    const at = mode === 'second' ? 'at a second' : 'at a minute boundary';
    const figuresOf = (jobs: number): { name: string; value: (r: LatenessRow | undefined) => number | undefined }[] =>
      jobs === 1
        ? [{ name: 'start after the slot, p99', value: (r) => r?.p99 }]
        : [
            { name: 'first start', value: (r) => r?.first?.median },
            { name: 'last start', value: (r) => r?.last?.median },
          ];
    for (const jobs of [1, 100, 1000]) {
      for (const figure of figuresOf(jobs)) {
        for (const condition of ['idle', 'busy'] as const) {
          const rows = results.lateness.filter((r) => r.mode === mode && r.condition === condition && r.jobs === jobs && r.error === undefined);
          if (rows.length === 0) continue;
          const slots = rows.find((r) => r.peer === 'schedd')?.slots ?? rows[0]!.slots;
          const over = jobs === 1 ? `of ${slots} slot${slots === 1 ? '' : 's'}` : slots === 1 ? '(one slot)' : `(median over ${slots} slots)`;
          // A peer that lost a round has fewer slots than the label says: its cell says how many.
          const extra = (peer: PeerName): string => {
            const r = late(peer, mode, condition, jobs);
            const fewer = r !== undefined && r.slots !== slots ? `, over ${r.slots} slots` : '';
            return `${fewer}${figure.name !== 'first start' && r?.dropped ? `, ${r.dropped} of ${r.expected} dropped` : ''}`;
          };
          row(`${jobs} job${jobs === 1 ? '' : 's'} ${at}, ${condition} machine: ${figure.name} ${over}`, (p) => figure.value(late(p, mode, condition, jobs)), ms, extra);
        }
      }
    }
  }
  const idle = (peer: PeerName): IdleRow | undefined => results.idle.find((r) => r.peer === peer && r.error === undefined);
  const jobs = results.idle[0]?.jobs ?? 0;
  row(`idle, ${jobs.toLocaleString('en')} jobs: CPU`, (p) => idle(p)?.cpuPercent, (v) => `${v.toFixed(3)}%`);
  row(`idle, ${jobs.toLocaleString('en')} jobs: wake-ups per second`, (p) => idle(p)?.wakeupsPerS, wakeups);
  row(`idle, ${jobs.toLocaleString('en')} jobs: RSS`, (p) => idle(p)?.rssMb, (v) => `${v.toFixed(0)} MB`);
  const reload = (peer: PeerName): ReloadRow | undefined => results.reload.find((r) => r.peer === peer && r.error === undefined);
  row('saved edit: save to applied (median)', (p) => reload(p)?.applied?.median, ms);
  row('saved edit: save to the new job\'s first start (median)', (p) => reload(p)?.firstStart?.median, ms);
  return table.text();
}

export function servicesTable(result: ServicesResult): string {
  const own = result.rows.find((r) => r.peer === 'schedd');
  const vs = (r: ServiceRow, figure: (o: ServiceRow | undefined) => number | undefined): string => (r.peer === 'schedd' ? '' : ratioText(ratio(figure(r), figure(own))));
  return textTable(
    ['peer', 'version', 'ready after', 'crashes', 'restart p50', 'p99', 'min', 'max', 'RSS', 'PSS', 'processes', 'daemon RSS', 'CPU %', 'wake-ups/s', 'RSS after crashes', 'p50 vs schedd', 'RSS vs schedd'],
    result.rows.map((r) => {
      // The reason is printed below the table (servicesProblems): a long one in a cell would widen its column.
      if (r.error !== undefined) return [r.peer, r.version ?? '', 'error'];
      const restart = r.restart === undefined ? ['-', '-', '-', '-'] : [ms(r.restart.p50), ms(r.restart.p99), ms(r.restart.min), ms(r.restart.max)];
      const mb = (v: number): string => `${v.toFixed(1)} MB`;
      const idle = r.idle === undefined ? ['-', '-', '-', '-', '-', '-'] : [mb(r.idle.rssMb), mb(r.idle.pssMb), String(r.idle.processes), mb(r.idle.daemonRssMb), `${r.idle.cpuPercent.toFixed(3)}%`, wakeups(r.idle.wakeupsPerS)];
      const after = r.rssAfterCrashesMb === undefined ? '-' : mb(r.rssAfterCrashesMb);
      return [r.peer, r.version ?? '', ms(r.readyMs), `${r.crashes ?? 0}`, ...restart, ...idle, after, vs(r, (o) => o?.restart?.p50), vs(r, (o) => o?.idle?.rssMb)];
    }),
  );
}

/** What went wrong per peer, for below the services table. */
export function servicesProblems(result: ServicesResult): string[] {
  return result.rows.flatMap((r) => [
    ...(r.error !== undefined ? [`${r.peer}: error: ${r.error}`] : []),
    ...(r.crashError !== undefined ? [`${r.peer}: crash rounds stopped: ${r.crashError}`] : []),
    ...(r.idle !== undefined && r.idle.running < r.services ? [`${r.peer}: ${r.idle.running} of ${r.services} services alive at the end of the idle window`] : []),
    ...(r.leftAfterStop !== undefined ? [`${r.peer}: ${r.leftAfterStop} service(s) still alive after its stop (killed by the bench)`] : []),
  ]);
}

/** The services comparison, a table of its own: its peers are supervisors, not the cron peers. */
export function servicesSummary(result: ServicesResult | undefined): string {
  if (result === undefined) return '';
  const table = comparison(result.rows.map((r) => r.peer), 'schedd');
  const ok = (peer: ServicePeerName): ServiceRow | undefined => result.rows.find((r) => r.peer === peer && r.error === undefined);
  const crashes = ok('schedd')?.crashes || Math.max(0, ...result.rows.map((r) => r.crashes ?? 0));
  // A peer whose rounds stopped early has fewer crashes than the label says: its cell says how many.
  const fewer = (peer: ServicePeerName): string => {
    const r = ok(peer);
    return r?.restart !== undefined && r.crashes !== crashes ? `, over ${r.crashes} crashes` : '';
  };
  const n = result.services;
  const processes = (r: ServiceRow | undefined): string => (r?.idle !== undefined && r.idle.processes > 1 ? `, ${r.idle.processes} processes` : '');
  table.row(`services: SIGKILL to the new process running, p50 (${crashes} crashes)`, (p) => ok(p)?.restart?.p50, ms, fewer);
  table.row(`services: SIGKILL to the new process running, p99 (${crashes} crashes)`, (p) => ok(p)?.restart?.p99, ms, fewer);
  // The daemon and every helper process it keeps beside the services; PSS splits their shared pages.
  table.row(`services: ${n} services, supervisor RSS`, (p) => ok(p)?.idle?.rssMb, (v) => `${v.toFixed(0)} MB`, (p) => processes(ok(p)));
  table.row(`services: ${n} services, supervisor PSS`, (p) => ok(p)?.idle?.pssMb, (v) => `${v.toFixed(0)} MB`);
  table.row(`services: ${n} services, idle CPU`, (p) => ok(p)?.idle?.cpuPercent, (v) => `${v.toFixed(3)}%`);
  table.row(`services: ${n} services, idle wake-ups per second`, (p) => ok(p)?.idle?.wakeupsPerS, wakeups);
  return table.text();
}

/** Wake-ups per second: two decimals below one, where a daemon's 30 s timer shows as 0.03. */
function wakeups(perSecond: number): string {
  return perSecond < 1 ? perSecond.toFixed(2) : perSecond.toFixed(1);
}
