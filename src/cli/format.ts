/**
 * Words and tables for people: durations, branches, step symbols and plain-text tables. Shared by the
 * job commands and the dashboard so both say the same thing the same way.
 */
import { TERMINAL_STATUSES, type JobStatus, type StepResult } from '../jobs/record.js';
import type { ApiJob } from './client.js';

/** 950 ms → "0.9s", 72 s → "1m 12s", 2 h 3 min → "2h 3m". */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "12s ago", "3m ago". */
export function formatAgo(then: number | undefined, now: number): string {
  if (then === undefined) return '';
  const ms = Math.max(0, now - then);
  if (ms < 1000) return 'now';
  const d = formatDuration(ms);
  return `${d.replace(/\.\ds$/, 's').split(' ')[0]} ago`;
}

/** How long a job ran (running: so far); undefined before it started. */
export function jobDurationMs(j: ApiJob, now: number): number | undefined {
  if (j.startedAt === undefined) return undefined;
  return (j.finishedAt ?? now) - j.startedAt;
}

/** A ref as people say it: refs/heads/main → main, refs/pull/7/head → PR #7, refs/tags/v1 → v1. */
export function branchOf(j: Pick<ApiJob, 'ref' | 'sha'>): string {
  const ref = j.ref ?? '';
  if (ref.startsWith('refs/heads/')) return ref.slice('refs/heads/'.length);
  if (ref.startsWith('refs/tags/')) return ref.slice('refs/tags/'.length);
  const pr = /^refs\/pull\/(\d+)\//.exec(ref);
  if (pr) return `PR #${pr[1]}`;
  if (ref === j.sha) return j.sha.slice(0, 7);
  return ref;
}

/** Statuses that end a job (the protocol's). */
export const ENDED: readonly JobStatus[] = TERMINAL_STATUSES;

/** One character per step result, as in `gh run watch`. */
export function stepSymbol(s: StepResult['status'] | 'pending'): string {
  switch (s) {
    case 'success':
      return '✓';
    case 'failure':
    case 'error':
    case 'timeout':
      return 'X';
    case 'running':
      return '*';
    case 'skipped':
      return '-';
    case 'cancelled':
      return '!';
    default:
      return '.';
  }
}

/** One character per job status. */
export function statusSymbol(s: JobStatus): string {
  switch (s) {
    case 'success':
      return '✓';
    case 'failure':
    case 'error':
    case 'dead':
      return 'X';
    case 'running':
      return '*';
    case 'cancelled':
      return '!';
    default:
      return '.';
  }
}

/** The colour of a status in the dashboard: green success, yellow running, red failure, grey the rest. */
export function statusColor(s: JobStatus): 'green' | 'yellow' | 'red' | 'gray' {
  switch (s) {
    case 'success':
      return 'green';
    case 'running':
      return 'yellow';
    case 'failure':
    case 'error':
    case 'dead':
      return 'red';
    default:
      return 'gray';
  }
}

/** A step line: "✓ test  12s" or "X clippy  3.1s  exit 1: reason". */
export function stepLine(s: StepResult): string {
  const d = s.status === 'running' ? '' : formatDuration(s.durationMs);
  const extra = [s.exitCode !== null && s.exitCode !== 0 && s.status !== 'success' ? `exit ${s.exitCode}` : '', s.reason ?? ''].filter(Boolean).join(': ');
  return [`${stepSymbol(s.status)} ${s.name}`, d, extra].filter(Boolean).join('  ');
}

/** Cuts a string to `width` columns with an ellipsis. */
export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...s];
  if (chars.length <= width) return s;
  return width === 1 ? '…' : `${chars.slice(0, width - 1).join('')}…`;
}

export interface Column<T> {
  readonly title: string;
  readonly value: (row: T) => string;
  /** Right-align (numbers). */
  readonly right?: boolean;
  /** Most columns this one takes (longer values are cut). */
  readonly max?: number;
}

/** A plain-text table: a header line and one line per row, columns two spaces apart. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string[] {
  const cells = rows.map((r) => columns.map((c) => fit(c.value(r), c.max ?? 1000)));
  const widths = columns.map((c, i) => Math.max([...c.title].length, ...cells.map((row) => [...row[i]].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i].right ? v.padStart(widths[i]) : i === values.length - 1 ? v : v.padEnd(widths[i] + (v.length - [...v].length))))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)];
}

/** The cache hit rate in words: "80% (12 hits, 3 misses)". */
export function cacheLine(c: ApiJob['cache']): string | undefined {
  if (!c) return undefined;
  const rate = c.hitRate === null ? 'n/a' : `${Math.round(c.hitRate * 100)}%`;
  return `${rate} (${c.hits} hits, ${c.misses} misses)`;
}
