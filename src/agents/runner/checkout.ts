/**
 * Checks out exactly the job's commit from Gitea over HTTP as the bot user: a shallow fetch of that one
 * commit into an empty folder, then submodules when the repository has them.
 *
 * The token never reaches argv, a remote URL or a file: git reads an `http.<gitea>/.extraHeader` with
 * Basic credentials from GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n in its environment,
 * scoped to the Gitea URL so submodules hosted elsewhere never receive it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess, type StepOutcome } from './process.js';

export interface CheckoutInput {
  readonly giteaUrl: string;
  readonly user: string;
  readonly token: string;
  /** owner/name */
  readonly repo: string;
  readonly sha: string;
  readonly ref: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly graceMs: number;
  readonly onLine: (line: string) => void;
}

/** Environment that makes git send the bot's credentials to Gitea, and only to Gitea. */
export function gitAuthEnv(giteaUrl: string, user: string, token: string): Record<string, string> {
  const base = giteaUrl.replace(/\/$/, '');
  return {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: `http.${base}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`,
    GIT_CONFIG_KEY_1: 'advice.detachedHead',
    GIT_CONFIG_VALUE_1: 'false',
  };
}

/** Runs the checkout; resolves with the outcome of the first failing git command, or the last one. */
export async function checkout(c: CheckoutInput): Promise<StepOutcome> {
  mkdirSync(c.dir, { recursive: true });
  const url = `${c.giteaUrl.replace(/\/$/, '')}/${c.repo}.git`;
  const env = { ...c.env, ...gitAuthEnv(c.giteaUrl, c.user, c.token) };
  const started = Date.now();
  const git = (args: string, timeoutMs = c.timeoutMs) => runProcess({ command: `git ${args}`, cwd: c.dir, env, timeoutMs, graceMs: c.graceMs, signal: c.signal, onLine: c.onLine });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const steps = [
    'init -q .',
    `remote add origin ${q(url)}`,
    // One commit, no history. Gitea allows fetching any reachable commit by its id.
    `fetch --no-tags --depth=1 origin ${q(c.sha)}`,
    'checkout -q --detach FETCH_HEAD',
  ];
  let last: StepOutcome | undefined;
  for (const s of steps) {
    last = await git(s);
    if (last.exitCode !== 0) return { ...last, durationMs: Date.now() - started };
  }
  if (existsSync(join(c.dir, '.gitmodules'))) {
    last = await git('submodule update --init --recursive --depth=1');
  }
  return { ...last!, durationMs: Date.now() - started };
}
