/**
 * Runs one step: `sh -c <command>` in a process group of its own, output split into lines, a timeout,
 * and cancellation. Stopping a step sends SIGTERM to the whole group, then SIGKILL after the grace
 * period; whatever is left of the group once the shell has exited is killed too, so no build process
 * outlives its step.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

export interface StepRun {
  readonly command: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Stop after this many ms (the smaller of the step's and what is left of the job's). */
  readonly timeoutMs: number;
  readonly graceMs: number;
  /** Aborted on cancel (or the agent shutting down). */
  readonly signal: AbortSignal;
  readonly onLine: (line: string) => void;
  /** Several lines at once (preferred when given: one call per chunk of output). */
  readonly onLines?: (lines: string[]) => void;
  /** Pause output while the log cannot keep up. */
  readonly backpressure?: { readonly full: () => boolean; readonly whenRoom: () => Promise<void> };
}

export interface StepOutcome {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly durationMs: number;
  /** The command could not be started at all. */
  readonly spawnError?: string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

export function runProcess(r: StepRun): Promise<StepOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', r.command], { cwd: r.cwd, env: r.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let spawnError: string | undefined;
    const stop = () => {
      if (killTimer || child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), r.graceMs);
    };
    const timeout = setTimeout(() => {
      timedOut = true;
      stop();
    }, r.timeoutMs);
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    if (r.signal.aborted) onAbort();
    else r.signal.addEventListener('abort', onAbort, { once: true });

    for (const stream of [child.stdout, child.stderr]) {
      let carry = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (carry + chunk).split('\n');
        carry = parts.pop() ?? '';
        // A line without an end longer than 64 KiB is passed on in pieces.
        while (carry.length > 65_536) {
          parts.push(carry.slice(0, 65_536));
          carry = carry.slice(65_536);
        }
        const lines = parts.map((p) => (p.endsWith('\r') ? p.slice(0, -1) : p));
        if (r.onLines) r.onLines(lines);
        else for (const l of lines) r.onLine(l);
        if (r.backpressure?.full()) {
          stream.pause();
          void r.backpressure.whenRoom().then(() => stream.resume());
        }
      });
      stream.on('end', () => {
        if (carry) r.onLine(carry);
        carry = '';
      });
    }
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, sig) => {
      clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      r.signal.removeEventListener('abort', onAbort);
      // Anything the step left running in its group goes with it.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      resolve({ exitCode: code, signal: sig, timedOut, cancelled, durationMs: Date.now() - started, spawnError });
    });
  });
}

/** Whether a program is on PATH (of `env`). */
export function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = `${dir}/${program}`;
    try {
      if (existsSync(p) && statSync(p).isFile()) return true;
    } catch {
      // unreadable folder
    }
  }
  return false;
}
