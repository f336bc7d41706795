/**
 * Starts the dashboard on a terminal and gives the terminal back as it found it on every way out: q,
 * Ctrl+C, SIGTERM, SIGHUP (the SSH connection dropped), and an unexpected error (one line on stderr,
 * exit 1, never a stack). It draws on the alternate screen, like top or less, so the shell's screen
 * comes back on exit; ink restores the cursor and the input mode.
 *
 * ink and the components are imported here, lazily, and only after CI and CONTINUOUS_INTEGRATION are
 * hidden from it: ink takes those to mean "not interactive" and would draw nothing until exit. Whoever
 * runs `raibid tui` on a terminal is interactive.
 */
import { readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createElement as h } from 'react';
import type { ApiClient } from '../client.js';
import { currentReplicas, plannedPods, scalePool, CAPACITY_FILE } from '../scale.js';
import type { Scaler } from './app.js';
import { Poller } from './poller.js';

// The two terminal modes the dashboard switches (xterm's alternate screen; every terminal emulator
// in use has it). ink writes everything else.
const ENTER_ALT_SCREEN = '\x1b[?1049h\x1b[H';
const LEAVE_ALT_SCREEN = '\x1b[?1049l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * How ink draws: at most 10 redraws a second, and only when the frame changed; each redraw rewrites
 * the dashboard's own lines in place (erase + write in one write, in synchronized-output marks where
 * the terminal has them) — never a clear of the whole terminal, as the frame stays one row short of it.
 * ink's incrementalRendering would send only the changed lines, but in ink 6.8.0 it moves the cursor
 * one row short for a frame that ends in a newline (every frame that does not fill the screen), so
 * each redraw would land one row lower. Ctrl+C is the app's, so it can restore the terminal.
 */
export const RENDER_OPTIONS = { exitOnCtrlC: false, patchConsole: true, maxFps: 10, incrementalRendering: false } as const;

export interface TuiOptions {
  readonly client: ApiClient;
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
  /** The raibid-ci checkout for +/- (undefined: none found; `noCheckout` says why). */
  readonly checkout?: string;
  readonly noCheckout?: string;
}

/** A Scaler over a checkout: the same code as `raibid scale`. */
export function checkoutScaler(root: string, env: NodeJS.ProcessEnv): Scaler {
  return {
    root,
    current(pool) {
      const c = currentReplicas(root, pool);
      if (c.planned === undefined) throw new Error(`pool ${pool} has maxReplicas auto and ${CAPACITY_FILE} has no plan for it; use raibid scale ${pool} N`);
      return c.planned;
    },
    run: (pool, to, onSynth) => scalePool({ root, pool, target: { kind: 'set', value: to }, env, onSynth }),
    plan() {
      try {
        return plannedPods(readFileSync(join(root, CAPACITY_FILE), 'utf8'));
      } catch {
        return undefined;
      }
    },
  };
}

export async function runTui(o: TuiOptions): Promise<number> {
  if (!o.stdin.isTTY || !o.stdout.isTTY) {
    o.stderr.write('raibid: raibid tui needs a terminal (stdin and stdout must be a TTY); for scripts use raibid jobs, raibid status or raibid watch\n');
    return 2;
  }
  const hidden: Record<string, string | undefined> = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  let ink: typeof import('ink');
  let app: typeof import('./app.js');
  try {
    ink = await import('ink');
    app = await import('./app.js');
  } finally {
    for (const [k, v] of Object.entries(hidden)) if (v !== undefined) process.env[k] = v;
  }

  const fd = (o.stdout as NodeJS.WriteStream & { fd?: number }).fd;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    const text = SHOW_CURSOR + LEAVE_ALT_SCREEN;
    // Synchronously: this also runs from process 'exit', where writes to a stream would be lost.
    if (typeof fd === 'number') {
      try {
        writeSync(fd, text);
        return;
      } catch {
        // fall back to the stream
      }
    }
    o.stdout.write(text);
  };

  const poller = new Poller(o.client);
  o.stdout.write(ENTER_ALT_SCREEN);
  process.on('exit', restore);
  let code = 0;
  let instance: import('ink').Instance | undefined;
  const leave = (exitCode: number) => {
    code = exitCode;
    poller.stop();
    instance?.unmount();
  };
  const onSignal = (sig: NodeJS.Signals) => leave(sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143);
  const onError = (e: unknown) => {
    leave(1);
    restore();
    o.stderr.write(`raibid: the dashboard stopped: ${String((e as Error)?.message ?? e).split('\n')[0]}\n`);
    process.exit(1);
  };
  for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.on(sig, onSignal);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    const scaler = o.checkout ? checkoutScaler(o.checkout, o.env) : undefined;
    instance = ink.render(h(app.App, { poller, client: o.client, cluster: o.client.host, scaler, noScaler: o.noCheckout }), {
      stdin: o.stdin,
      stdout: o.stdout,
      stderr: o.stderr,
      ...RENDER_OPTIONS,
    });
    await instance.waitUntilExit();
  } catch (e) {
    code = 1;
    restore();
    o.stderr.write(`raibid: the dashboard stopped: ${String((e as Error)?.message ?? e).split('\n')[0]}\n`);
  } finally {
    poller.stop();
    restore();
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.off(sig, onSignal);
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
    process.off('exit', restore);
  }
  return code;
}
