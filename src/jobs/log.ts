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

/**
 * Splits text into chunks of at most LOG_BATCH_BYTES bytes, at line ends where possible. It measures
 * one window per chunk rather than each line (a burst of output is hundreds of thousands of lines).
 */
export function chunkText(text: string): string[] {
  if (text.length <= LOG_BATCH_BYTES / 4 || Buffer.byteLength(text) <= LOG_BATCH_BYTES) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    // A window of at most LOG_BATCH_BYTES UTF-16 units, shrunk until its UTF-8 form fits.
    let end = Math.min(text.length, start + LOG_BATCH_BYTES);
    while (Buffer.byteLength(text.slice(start, end)) > LOG_BATCH_BYTES) end = start + Math.max(1, Math.floor((end - start) / 2));
    if (end < text.length) {
      // Cut after the last line end in the window's second half; a longer line is cut where it is.
      const nl = text.lastIndexOf('\n', end - 1);
      if (nl >= start + (end - start) / 2) end = nl + 1;
    }
    const chunk = text.slice(start, end);
    out.push(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
    start = end;
  }
  return out;
}
