/**
 * A job's log as the agent writes it: lines are masked, batched per step, and appended to the job's
 * log stream (src/jobs/log.ts) every FLUSH_MS, or at once when HIGH_WATER_BYTES are waiting. One flush
 * at a time: output that arrives meanwhile joins the next batch, so a burst becomes a few large entries
 * rather than many small ones (the stream is capped by entries). When Redis falls behind, `full` tells
 * the step's output pipes to pause (backpressure) instead of growing the agent's memory.
 */
import type { JobStore } from '../../jobs/store.js';
import { chunkText, type LogEntry, type LogKind } from '../../jobs/log.js';
import type { Masker } from './mask.js';

export const FLUSH_MS = 100;
/** Buffered bytes above which a flush starts at once and producers should pause. */
export const HIGH_WATER_BYTES = 1024 * 1024;

export class JobLog {
  /** Entries sealed for the next flush, in order. */
  private entries: LogEntry[] = [];
  /** Output of one step not yet sealed into entries. */
  private current: { step: string; time: number; parts: string[] } | undefined;
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  /** Lines written, after masking. */
  lines = 0;
  failed: Error | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly jobId: string,
    private readonly masker: Masker,
  ) {}

  /** One line of a step's output. */
  line(step: string, text: string): void {
    this.append(step, [text]);
  }

  /**
   * Lines of a step's output, in order. They are masked together: a secret value never spans lines,
   * so masking the joined text is masking each line, at a fraction of the cost.
   */
  append(step: string, lines: readonly string[]): void {
    if (lines.length === 0) return;
    if (this.current && this.current.step !== step) this.seal();
    const text = this.masker.mask(lines.join('\n'));
    if (!this.current) this.current = { step, time: Date.now(), parts: [] };
    this.current.parts.push(text);
    this.buffered += text.length + 1;
    this.lines += lines.length;
    this.schedule();
  }

  /** A marker (step started or ended, agent messages). */
  marker(kind: Exclude<LogKind, 'out' | 'end'>, step: string, text: string): void {
    this.seal();
    const masked = this.masker.mask(text);
    this.entries.push({ kind, step, time: Date.now(), text: masked });
    this.buffered += masked.length;
    this.schedule();
  }

  /** True while more than HIGH_WATER_BYTES wait for Redis. */
  get full(): boolean {
    return this.buffered > HIGH_WATER_BYTES;
  }

  /** Resolves once the buffer is below the high-water mark. */
  whenRoom(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private seal(): void {
    if (!this.current) return;
    const { step, time, parts } = this.current;
    for (const chunk of chunkText(parts.join('\n'))) this.entries.push({ kind: 'out', step, time, text: chunk });
    this.current = undefined;
  }

  private schedule(): void {
    if (this.full && !this.inFlight) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes everything buffered so far; resolves when it (and any flush before it) is in Redis. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight) await this.inFlight;
    this.seal();
    const batch = this.entries;
    this.entries = [];
    if (batch.length === 0) return;
    const bytes = batch.reduce((n, e) => n + e.text.length, 0);
    this.inFlight = this.store
      .appendLog(this.jobId, batch)
      .catch((e: Error) => {
        // A lost batch must not fail the build; the record says the log is incomplete.
        this.failed = e;
      })
      .finally(() => {
        this.inFlight = undefined;
        this.buffered = Math.max(0, this.buffered - bytes);
        if (!this.full) for (const w of this.waiters.splice(0)) w();
        // Output that arrived during the flush goes out next.
        if (this.current || this.entries.length) this.schedule();
      });
    await this.inFlight;
  }
}
