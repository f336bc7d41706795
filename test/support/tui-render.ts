/**
 * Renders an ink tree the way ink-testing-library does (fake stdin/stdout, ink's debug mode: every
 * update is written whole, so the last write is the frame), but with a terminal size that tests set
 * and change: ink-testing-library 4.0 fixes its stdout at 100 columns with no rows and no resize.
 */
import { EventEmitter } from 'node:events';
import { render, type Instance } from 'ink';
import type { ReactNode } from 'react';

class FakeStdout extends EventEmitter {
  readonly frames: string[] = [];
  isTTY = true;
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write = (frame: string): boolean => {
    this.frames.push(frame);
    return true;
  };
}

class FakeStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write = (data: string): void => {
    this.data = data;
    this.emit('readable');
    this.emit('data', data);
  };
  read = (): string | null => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

/** Escape sequences a terminal sends for keys. */
export const KEYS = {
  up: '\x1b[A',
  down: '\x1b[B',
  right: '\x1b[C',
  left: '\x1b[D',
  enter: '\r',
  escape: '\x1b',
  tab: '\t',
  shiftTab: '\x1b[Z',
  backspace: '\x7f',
  pageUp: '\x1b[5~',
  pageDown: '\x1b[6~',
  home: '\x1b[H',
  end: '\x1b[F',
  ctrlC: '\x03',
} as const;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
export const stripAnsi = (s: string): string => s.replace(ANSI, '');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TuiHandle {
  /** The last frame without colours, trailing spaces trimmed per line. */
  frame(): string;
  /** The last frame as written (with colours). */
  rawFrame(): string;
  readonly frames: readonly string[];
  /** Types keys (or text), one write each, letting ink handle each before the next. */
  press(...keys: string[]): Promise<void>;
  /** Resizes the terminal (emits 'resize', as a TTY does). */
  resize(columns: number, rows: number): Promise<void>;
  /** Waits until the frame satisfies `test`; fails with the last frame. */
  waitFor(test: (frame: string) => boolean, what?: string, timeoutMs?: number): Promise<string>;
  readonly instance: Instance;
  readonly size: { columns: number; rows: number };
  unmount(): void;
}

export function renderTui(tree: ReactNode, size: { columns: number; rows: number }): TuiHandle {
  const stdout = new FakeStdout(size.columns, size.rows);
  const stdin = new FakeStdin();
  const stderr = new FakeStdout(size.columns, size.rows);
  const instance = render(tree, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  const raw = () => stdout.frames[stdout.frames.length - 1] ?? '';
  const frame = () =>
    stripAnsi(raw())
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .replace(/\n+$/, '');
  return {
    frame,
    rawFrame: raw,
    frames: stdout.frames,
    async press(...keys) {
      for (const k of keys) {
        stdin.write(k);
        await sleep(15);
      }
    },
    async resize(columns, rows) {
      stdout.columns = columns;
      stdout.rows = rows;
      stdout.emit('resize');
      await sleep(20);
    },
    async waitFor(test, what = 'the expected frame', timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const f = frame();
        if (test(f)) return f;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last frame:\n${f}`);
        await sleep(10);
      }
    },
    instance,
    get size() {
      return { columns: stdout.columns, rows: stdout.rows };
    },
    unmount() {
      instance.unmount();
      instance.cleanup();
    },
  };
}
