/**
 * The log format: one capped Redis stream per job (`raibid:log:<id>`). Each entry is one batch of
 * output lines of one step, or a marker:
 *
 *   k  kind: `out` (output lines), `step` (a step started), `result` (a step ended), `info` (the
 *      agent or the API speaking), `end` (the job ended; nothing follows)
 *   s  step name (empty for info/end)
 *   t  milliseconds since the epoch
 *   d  text: output lines joined by "\n" (no trailing newline), or the marker's message
 *
 * Entry ids are the stream's ids, so a follower resumes exactly after the last entry it saw
 * (Server-Sent Events `Last-Event-ID`).
 */
export const LOG_KINDS = ['out', 'step', 'result', 'info', 'end'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

export interface LogEntry {
  readonly id?: string;
  readonly kind: LogKind;
  readonly step: string;
  readonly time: number;
  readonly text: string;
}

/** Entries kept per job (approximate trim): with LOG_BATCH_BYTES, at most ~20 MiB of log per job. */
export const LOG_MAX_ENTRIES = 5000;
/** Largest text of one entry; longer output is split. */
export const LOG_BATCH_BYTES = 4096;

export function logFields(e: LogEntry): string[] {
  return ['k', e.kind, 's', e.step, 't', String(e.time), 'd', e.text];
}

export function parseLogEntry(id: string, fields: string[]): LogEntry {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]] = fields[i + 1];
  const kind = (LOG_KINDS as readonly string[]).includes(m.k) ? (m.k as LogKind) : 'info';
  return { id, kind, step: m.s ?? '', time: Number(m.t ?? 0), text: m.d ?? '' };
}

/** One entry as a line of the plain-text log. */
export function formatLogEntry(e: LogEntry): string {
  const ts = new Date(e.time).toISOString();
  switch (e.kind) {
    case 'out':
      return e.text
        .split('\n')
        .map((l) => `${ts} [${e.step}] ${l}`)
        .join('\n');
    case 'step':
      return `${ts} ==> ${e.step}: ${e.text}`;
    case 'result':
      return `${ts} <== ${e.step}: ${e.text}`;
    default:
      return `${ts} --- ${e.text}`;
  }
}

/** Splits text into chunks of at most LOG_BATCH_BYTES bytes, at line ends where possible. */
export function chunkText(text: string): string[] {
  if (Buffer.byteLength(text) <= LOG_BATCH_BYTES) return [text];
  const out: string[] = [];
  let cur = '';
  for (const line of text.split('\n')) {
    const candidate = cur === '' ? line : `${cur}\n${line}`;
    if (Buffer.byteLength(candidate) <= LOG_BATCH_BYTES) {
      cur = candidate;
      continue;
    }
    if (cur !== '') out.push(cur);
    // A single line longer than a batch is cut into pieces.
    let rest = line;
    while (Buffer.byteLength(rest) > LOG_BATCH_BYTES) {
      out.push(rest.slice(0, LOG_BATCH_BYTES / 4));
      rest = rest.slice(LOG_BATCH_BYTES / 4);
    }
    cur = rest;
  }
  if (cur !== '') out.push(cur);
  return out;
}
