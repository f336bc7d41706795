/**
 * A job's log as the agent writes it: lines are masked, batched per step, and appended to the job's
 * log stream (src/jobs/log.ts) every FLUSH_MS or when a batch is full. When Redis falls behind, the
 * buffer reports itself full so the step's output pipes are paused (backpressure) instead of growing
 * the agent's memory.
 */
import type { JobStore } from '../../jobs/store.js';
import { LOG_BATCH_BYTES, type LogEntry, type LogKind } from '../../jobs/log.js';
import type { Masker } from './mask.js';

export const FLUSH_MS = 100;
/** Buffered bytes above which producers should pause. */
export const HIGH_WATER_BYTES = 1024 * 1024;

export class JobLog {
  private entries: LogEntry[] = [];
  private current: { step: string; time: number; lines: string[]; bytes: number } | undefined;
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
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
    const masked = this.masker.mask(text);
    const bytes = Buffer.byteLength(masked) + 1;
    if (this.current && (this.current.step !== step || this.current.bytes + bytes > LOG_BATCH_BYTES)) this.seal();
    if (!this.current) this.current = { step, time: Date.now(), lines: [], bytes: 0 };
    this.current.lines.push(masked);
    this.current.bytes += bytes;
    this.buffered += bytes;
    this.lines++;
    this.schedule();
  }

  /** A marker (step started or ended, agent messages). */
  marker(kind: Exclude<LogKind, 'out' | 'end'>, step: string, text: string): void {
    this.seal();
    const masked = this.masker.mask(text);
    this.entries.push({ kind, step, time: Date.now(), text: masked });
    this.buffered += Buffer.byteLength(masked);
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
    this.entries.push({ kind: 'out', step: this.current.step, time: this.current.time, text: this.current.lines.join('\n') });
    this.current = undefined;
  }

  private schedule(): void {
    if (this.full) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes everything buffered so far. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.seal();
    const batch = this.entries;
    this.entries = [];
    if (batch.length === 0) return this.flushing;
    const bytes = batch.reduce((n, e) => n + Buffer.byteLength(e.text), 0);
    this.flushing = this.flushing
      .then(() => this.store.appendLog(this.jobId, batch))
      .catch((e: Error) => {
        // A lost batch must not fail the build; the record says the log is incomplete.
        this.failed = e;
      })
      .finally(() => {
        this.buffered = Math.max(0, this.buffered - bytes);
        if (!this.full) for (const w of this.waiters.splice(0)) w();
      });
    return this.flushing;
  }
}
