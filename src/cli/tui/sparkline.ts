/** Queue depth over the last minute as a sparkline: one character per time bucket, ▁ to █. */

export interface Sample {
  /** ms since the epoch */
  readonly t: number;
  readonly value: number;
}

const BARS = '▁▂▃▄▅▆▇█';

/** Seconds of history the dashboard keeps and draws. */
export const HISTORY_MS = 60_000;

/**
 * `width` characters covering the `spanMs` before `now`: each is the largest sample of its bucket,
 * scaled to the largest value shown (a flat line of ▁ when all are 0); buckets without a sample (before
 * the dashboard started) are blank.
 */
export function sparkline(samples: readonly Sample[], width: number, now: number, spanMs = HISTORY_MS): string {
  if (width <= 0) return '';
  const buckets: (number | undefined)[] = new Array(width).fill(undefined);
  const start = now - spanMs;
  for (const s of samples) {
    if (s.t < start || s.t > now) continue;
    const i = Math.min(width - 1, Math.floor(((s.t - start) / spanMs) * width));
    buckets[i] = Math.max(buckets[i] ?? 0, s.value);
  }
  // A sample every second on a wider line leaves gaps: carry the last value across them.
  let last: number | undefined;
  let seen = false;
  for (let i = 0; i < width; i++) {
    if (buckets[i] !== undefined) {
      last = buckets[i];
      seen = true;
    } else if (seen && last !== undefined && samples.some((s) => s.t >= start + ((i + 1) / width) * spanMs)) buckets[i] = last;
  }
  const max = Math.max(0, ...buckets.map((b) => b ?? 0));
  return buckets.map((b) => (b === undefined ? ' ' : max === 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.round((b / max) * (BARS.length - 1)))])).join('');
}

/** Adds a sample and drops those older than the history. */
export function record(samples: readonly Sample[], sample: Sample, spanMs = HISTORY_MS): Sample[] {
  return [...samples.filter((s) => s.t > sample.t - spanMs), sample];
}
