// Fixture scripts and /proc readings for the hostile-jobs scenario.
import { readdirSync, readFileSync } from 'node:fs';
import { processStat } from '../../src/runner/index.js';

/**
 * A process tree in which every process ignores SIGTERM (an ignored signal stays ignored across
 * fork and exec): at each level a shell, a sleeping child, an orphan (its parent subshell exits
 * at once, so it is reparented but stays in the job's process group), and the next level.
 * Every pid is appended to the file in $1; $2 is the depth.
 */
export const TREE_SCRIPT = `trap '' TERM
echo $$ >> "$1"
sleep 1000 &
echo $! >> "$1"
(sleep 1000 & echo $! >> "$1")
if [ "$2" -gt 0 ]; then sh "$0" "$1" $(($2 - 1)) & fi
wait
`;

/** Processes TREE_SCRIPT starts at depth `depth`: a shell, a child and an orphan per level. */
export function treeSize(depth: number): number {
  return 3 * (depth + 1);
}

/** 1 GiB of 1000-character lines (the last one cut short), as fast as the pipe takes it. */
export const FLOOD_BYTES = 2 ** 30;
export const FLOOD_LINE = 1000;
export const FLOOD_SCRIPT = `line=$(head -c ${FLOOD_LINE} /dev/zero | tr '\\0' y)
yes "$line" 2>/dev/null | head -c ${FLOOD_BYTES}
`;

/** pid -> [state, pgid] of every process on the machine. */
export function processTable(): Map<number, { state: string; pgid: number }> {
  const table = new Map<number, { state: string; pgid: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = processStat(name);
    if (stat == null) continue; // exited while we looked
    table.set(Number(name), { state: stat.state, pgid: stat.pgrp });
  }
  return table;
}

/** Live (not zombie) processes in any of these process groups. */
export function liveInGroups(groups: ReadonlySet<number>): number[] {
  return [...processTable()].filter(([, p]) => groups.has(p.pgid) && p.state !== 'Z').map(([pid]) => pid);
}

export function pidsIn(text: string): number[] {
  return text.split('\n').filter((line) => line !== '').map(Number);
}
