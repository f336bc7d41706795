/**
 * The job detail: the job (steps with results and durations, cache hit rate, pushed image, why it is
 * not running yet) refreshed with the dashboard, and its log followed live over Server-Sent Events.
 * The log keeps a bounded window (the last `window` lines) and can be scrolled back within it.
 */
import { createElement as h, useEffect, useState, type ReactNode } from 'react';
import { Box, Text } from 'ink';
import type { LogEntry } from '../../jobs/log.js';
import { ApiClientError, type ApiClient, type ApiJob } from '../client.js';
import { branchOf, cacheLine, formatDuration, jobDurationMs, statusColor, statusSymbol, stepLine } from '../format.js';

/** Lines of log kept in memory per job. */
export const LOG_WINDOW = 2000;

/** Removes what would move the cursor or change the terminal: escape sequences, control characters. */
export function sanitize(line: string): string {
  return line
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[@-_]/g, '')
    .replace(/^.*\r(?=.)/, '')
    .replace(/\t/g, '    ')
    .replace(/[\x00-\x1f\x7f]/g, '');
}

/** One log entry as dashboard lines: output as is, markers as "==> step", "<== step: result", "--- info". */
export function entryLines(e: LogEntry): string[] {
  switch (e.kind) {
    case 'out':
      return e.text.split('\n').map(sanitize);
    case 'step':
      return [`==> ${e.step}: ${sanitize(e.text)}`];
    case 'result':
      return [`<== ${e.step}: ${sanitize(e.text)}`];
    case 'end':
      return [`--- ${sanitize(e.text) || 'end'}`];
    default:
      return [`--- ${sanitize(e.text)}`];
  }
}

export interface LogState {
  readonly id?: string;
  readonly lines: readonly string[];
  /** Lines dropped from the front of the window. */
  readonly dropped: number;
  readonly ended: boolean;
  readonly error?: string;
}

const EMPTY: LogState = { lines: [], dropped: 0, ended: false };

/** Follows a job's log while `id` is set; redraws at most every 100 ms however fast lines arrive. */
export function useJobLog(client: ApiClient, id: string | undefined, window = LOG_WINDOW): LogState {
  const [state, setState] = useState<LogState>(EMPTY);
  useEffect(() => {
    if (!id) {
      setState(EMPTY);
      return;
    }
    const stop = new AbortController();
    let lines: string[] = [];
    let dropped = 0;
    let ended = false;
    let error: string | undefined;
    let dirty = true;
    const flush = () => {
      if (!dirty || stop.signal.aborted) return;
      dirty = false;
      setState({ id, lines: lines.slice(), dropped, ended, error });
    };
    const timer = setInterval(flush, 100);
    setState({ ...EMPTY, id });
    void (async () => {
      try {
        for await (const e of client.followLog(id, { signal: stop.signal, reconnects: Number.MAX_SAFE_INTEGER, retryMs: 2000 })) {
          lines.push(...entryLines(e));
          if (e.kind === 'end') ended = true;
          if (lines.length > window) {
            dropped += lines.length - window;
            lines = lines.slice(-window);
          }
          dirty = true;
        }
        ended = true;
      } catch (e) {
        error = e instanceof ApiClientError ? e.message : String((e as Error)?.message ?? e);
      }
      dirty = true;
      flush();
    })();
    return () => {
      stop.abort();
      clearInterval(timer);
    };
  }, [client, id, window]);
  return state.id === id ? state : { ...EMPTY, id };
}

/** The job, read again on every dashboard refresh (`tick`). */
export function useJob(client: ApiClient, id: string | undefined, tick: number, fallback?: ApiJob): { job?: ApiJob; error?: string } {
  const [state, setState] = useState<{ id?: string; job?: ApiJob; error?: string }>({});
  useEffect(() => {
    if (!id) return;
    let live = true;
    client.job(id).then(
      (job) => live && setState({ id, job }),
      (e: unknown) => live && setState((s) => ({ id, job: s.id === id ? s.job : undefined, error: e instanceof ApiClientError ? e.message : String(e) })),
    );
    return () => {
      live = false;
    };
  }, [client, id, tick]);
  if (state.id !== id) return { job: fallback };
  return { job: state.job ?? fallback, error: state.error };
}

/** Rows the detail's header part takes for a job, so the log gets the rest. */
function headerLines(job: ApiJob | undefined, now: number, maxSteps: number): ReactNode[] {
  if (!job) return [h(Text, { key: 'loading', color: 'gray' }, 'Loading the job…')];
  const out: ReactNode[] = [];
  out.push(
    h(
      Text,
      { key: 'title', wrap: 'truncate-end' },
      h(Text, { color: statusColor(job.status), bold: true }, `${statusSymbol(job.status)} ${job.status}`),
      `  ${job.repo}  ${branchOf(job)} @ ${job.sha.slice(0, 7)}${job.title ? `  "${job.title}"` : ''}`,
    ),
  );
  const cache = cacheLine(job.cache);
  const facts = [`pool ${job.pool}`, job.agent && `agent ${job.agent}`, `attempt ${job.attempt}`, job.event !== 'push' && `event ${job.event}`, job.startedAt && `${job.finishedAt ? 'took' : 'running'} ${formatDuration(jobDurationMs(job, now))}`, cache && `cache ${cache}`].filter(Boolean).join(' · ');
  out.push(h(Text, { key: 'facts', wrap: 'truncate-end', color: 'gray' }, facts));
  if (job.image) out.push(h(Text, { key: 'image', wrap: 'truncate-end' }, `image ${job.image.ref}${job.image.digest ? `@${job.image.digest.slice(0, 19)}` : ''}`));
  if (job.status === 'queued') out.push(h(Text, { key: 'waiting', wrap: 'truncate-end', color: 'yellow' }, `waiting: ${job.waiting ?? `for an agent of pool ${job.pool}`}`));
  if (job.cancelRequested) out.push(h(Text, { key: 'cancel', wrap: 'truncate-end', color: 'yellow' }, `cancel requested by ${job.cancelRequested}; the agent is stopping it`));
  if (job.reason && job.status !== 'queued') out.push(h(Text, { key: 'reason', wrap: 'truncate-end', color: job.status === 'success' ? undefined : 'red' }, `reason: ${job.reason}`));
  const steps = job.steps;
  const shown = steps.length > maxSteps ? steps.slice(steps.length - (maxSteps - 1)) : steps;
  if (steps.length > shown.length) out.push(h(Text, { key: 'earlier', color: 'gray' }, `  … ${steps.length - shown.length} earlier steps`));
  for (const [i, s] of shown.entries()) {
    const color = s.status === 'success' ? 'green' : s.status === 'running' ? 'yellow' : s.status === 'skipped' || s.status === 'cancelled' ? 'gray' : 'red';
    out.push(h(Text, { key: `step-${i}`, wrap: 'truncate-end', color }, `  ${stepLine(s)}`));
  }
  return out;
}

/** Rows of log the detail shows for a job in `height` rows (the rest is the job's header and steps). */
export function logRowsFor(job: ApiJob | undefined, height: number, now: number): number {
  return Math.max(3, height - headerLines(job, now, maxStepsFor(height)).length - 1);
}

const maxStepsFor = (height: number) => Math.max(2, Math.min(8, height - 9));

export function JobDetail(p: { job?: ApiJob; error?: string; log: LogState; scroll: number; height: number; width: number; now: number }): ReactNode {
  const head = headerLines(p.job, p.now, maxStepsFor(p.height));
  const logRows = Math.max(3, p.height - head.length - 1);
  const total = p.log.lines.length;
  const scroll = Math.min(p.scroll, Math.max(0, total - logRows));
  const end = total - scroll;
  const visible = p.log.lines.slice(Math.max(0, end - logRows), end);
  const state = p.log.error ? `log: ${p.log.error}` : scroll > 0 ? `log: scrolled back ${scroll} of ${total} lines · End follows` : p.log.ended ? `log: ${total} lines, ended` : `log: following · ${total} lines`;
  const bar = `── ${state}${p.log.dropped ? ` (first ${p.log.dropped} dropped)` : ''} `;
  return h(
    Box,
    { flexDirection: 'column', height: p.height, width: p.width },
    ...head,
    p.error && !p.job ? h(Text, { key: 'err', color: 'red', wrap: 'truncate-end' }, p.error) : null,
    h(Text, { key: 'bar', color: p.log.error ? 'red' : 'gray', wrap: 'truncate-end' }, bar + '─'.repeat(Math.max(0, p.width - [...bar].length))),
    ...(visible.length ? visible.map((l, i) => h(Text, { key: `l${end - visible.length + i}`, wrap: 'truncate-end' }, l || ' ')) : [h(Text, { key: 'nolog', color: 'gray' }, p.log.ended ? '(empty log)' : '(no output yet)')]),
  );
}
