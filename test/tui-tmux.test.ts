/**
 * The dashboard for real: a real Redis, the real API (support/api-harness.ts: the server of
 * `raibid api` in this process, listening on a port, with the Gitea stand-in), and `raibid tui`
 * started from this checkout (bin/raibid.mjs) in a bash shell inside tmux at 80×24. Keys go in with `tmux send-keys`, the screen comes back with
 * `tmux capture-pane`: the jobs appear, Enter opens a job with its log, c cancels (after y), and q,
 * Ctrl+C and SIGTERM each leave the shell's screen and a sane terminal (canonical mode, echo) behind.
 *
 * The dashboard runs from the checkout (the same code the bundle carries; test/cli-jobs.test.ts runs
 * the bundle's `raibid tui`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStore } from '../src/jobs/store.js';
import { ADMIN_TOKEN, startApi, type ApiHarness } from './support/api-harness.js';
import { REDIS_BINARY, SKIP_REASON, startRedis, type TestRedis } from './support/redis.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HAS_TMUX = spawnSync('sh', ['-c', 'command -v tmux'], { stdio: 'ignore' }).status === 0;
const HAS_BASH = spawnSync('sh', ['-c', 'command -v bash'], { stdio: 'ignore' }).status === 0;
const skip = !HAS_TMUX || !HAS_BASH || !REDIS_BINARY;
const why = !HAS_TMUX ? 'SKIPPED: tmux is not on PATH (.ci/run should install it)' : !HAS_BASH ? 'SKIPPED: bash is not on PATH' : !REDIS_BINARY ? SKIP_REASON : '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The dashboard's first line against the real API: the cluster, its address, and the node's CPU and memory (in use/allocatable). */
const HEADER = /^raibid · dgx-spark \(127\.0\.0\.1:\d+\) {2}● live {2}cpu (…|\d+(\.\d)?)\/\d+(\.\d)? cores · mem \d+(\.\d)?\/\d+(\.\d)? GiB$/;

describe.skipIf(skip).sequential(`raibid tui in tmux at 80×24 against a real raibid api${skip ? ` — ${why}` : ''}`, () => {
  // A tmux server of our own, so a user's tmux is never touched.
  const socket = `raibid-tui-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const screen = (session: string) => tmux('capture-pane', '-p', '-t', session);
  let redis: TestRedis;
  let api: ApiHarness;
  let store: JobStore;
  let home: string;
  let n = 0;

  /** Waits until the pane shows what `test` wants; fails with the screen. */
  async function waitScreen(session: string, test: (s: string) => boolean, what: string, ms = 30_000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const s = screen(session);
      if (test(s)) return s;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; the screen:\n${s}`);
      await sleep(100);
    }
  }
  const keys = (session: string, ...k: string[]) => tmux('send-keys', '-t', session, ...k);

  /** A bash at 80×24 with the API's address and token, in the checkout; `raibid tui` typed and started. */
  async function startTui(): Promise<string> {
    const session = `tui${++n}`;
    const env = { RAIBID_API_URL: api.url, RAIBID_TOKEN: ADMIN_TOKEN, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), TERM: 'xterm-256color', PATH: process.env.PATH ?? '/usr/bin:/bin' };
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', '-c', ROOT, ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), 'bash --norc --noprofile -i');
    // bash sets its own prompt when interactive; a recognizable one makes "the shell is back" checkable.
    keys(session, "PS1='shell$ '; clear", 'Enter');
    await waitScreen(session, (s) => s.trim() === 'shell$', 'the shell prompt');
    keys(session, 'node bin/raibid.mjs tui', 'Enter');
    return session;
  }

  /** After the dashboard: the shell's screen is back, with the exit code and a sane terminal. */
  async function expectShellBack(session: string, code: number): Promise<void> {
    // The shell's own screen: the command typed, then a new prompt, and nothing of the dashboard.
    const s = await waitScreen(session, (x) => x.trimEnd().split('\n').at(-1) === 'shell$', 'the shell again');
    expect(s.trimEnd().split('\n')).toEqual(['shell$ node bin/raibid.mjs tui', 'shell$']);
    keys(session, `echo "exit=$?"; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo -e -icanon -e -echo | tr '\\n' ' '; echo`, 'Enter');
    const after = await waitScreen(session, (x) => /exit=\d+/.test(x) && /^(-?icanon|-?echo) (-?icanon|-?echo)$/m.test(x), 'the exit code and terminal modes');
    expect(after).toContain(`exit=${code}`);
    expect(after).toMatch(/^icanon echo$/m);
    tmux('kill-session', '-t', session);
  }

  const post = async (path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const job = async (id: string) => (await (await fetch(`${api.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as Record<string, any>;
  let ids: { done: string; running: string; queued: string };

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'raibid-tui-home-'));
    redis = await startRedis();
    api = await startApi(redis);
    await api.gitea.addRepo('acme', 'widget', { files: { 'README.md': 'hello\n' } });
    await api.gitea.addRepo('acme', 'gadget', { files: { 'README.md': 'hello\n' } });
    store = api.store;
    // Three jobs, oldest first: one that passed, one running with a log, one waiting.
    const done = (await post('/api/v1/jobs', { repo: 'acme/widget' })).body.id as string;
    await store.start(done, 'agent-rust-a1b2c', '1-1');
    await store.transition(done, 'success', { steps: [{ name: 'test', status: 'success', exitCode: 0, durationMs: 4200 }] });
    const running = (await post('/api/v1/jobs', { repo: 'acme/gadget' })).body.id as string;
    await store.start(running, 'agent-rust-d3e4f', '1-2');
    await store.transition(running, 'running', { steps: [{ name: 'fmt', status: 'success', exitCode: 0, durationMs: 900 }, { name: 'test', status: 'running', exitCode: null, durationMs: 0 }] }, ['running']);
    await store.appendLog(running, [
      { kind: 'step', step: 'test', time: Date.now(), text: 'cargo test' },
      { kind: 'out', step: 'test', time: Date.now(), text: 'hello from the agent\nrunning 3 tests' },
    ]);
    const queued = (await post('/api/v1/jobs', { repo: 'acme/widget' })).body.id as string;
    ids = { done, running, queued };
    writeFileSync(join(home, '.hushlogin'), '');
  }, 120_000);

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // no server left
    }
    await api?.close();
    await redis?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('README\'s capture of the dashboard is one of these screens: the header\'s figures, 80 columns, 24 rows', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const at = readme.indexOf('**The dashboard**');
    const block = readme.slice(readme.indexOf('```\n', at) + 4, readme.indexOf('\n```', readme.indexOf('```\n', at) + 4)).split('\n');
    expect(block[0]).toMatch(HEADER);
    expect(block[1]).toMatch(/^agents \d+ of \d+ planned · slots \d+\/\d+ busy · queued \d+ · dead \d+/);
    expect(block.length).toBeLessThanOrEqual(24);
    for (const l of block) expect([...l].length, l).toBeLessThanOrEqual(80);
    expect(block[block.length - 1]).toMatch(/^↑↓ move {2}⏎ open {2}c cancel/);
  });

  it('shows the jobs; Enter opens a job with its log; c cancels it after y; q gives the shell back', async () => {
    const session = await startTui();
    let s = await waitScreen(session, (x) => x.includes('● live') && x.includes(ids.queued) && x.includes(ids.done), 'the jobs');
    const lines = s.replace(/\n$/, '').split('\n');
    // The header: the cluster's name, and this node's CPU and memory in use against allocatable (the real
    // API reads its /proc), then agents against the capacity plan of the synthesized settings.
    expect(lines[0]).toMatch(HEADER);
    expect(lines[1]).toMatch(/^agents 0 of \d+ planned · /);
    expect(s).toMatch(new RegExp(`${ids.queued} \\. queued +acme/widget +main`));
    // At 80 columns the agent's name is cut to fit.
    expect(s).toMatch(new RegExp(`${ids.running} \\* running +acme/gadget +main +\\d+(\\.\\d)?s agent-rust-d3…`));
    expect(s).toMatch(new RegExp(`${ids.done} ✓ success +acme/widget +main +\\d\\.\\ds agent-rust-a1…`));
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);

    // The running job, second from the top.
    keys(session, 'j');
    keys(session, 'Enter');
    s = await waitScreen(session, (x) => x.includes('hello from the agent'), 'the log of the running job');
    expect(s).toContain(`Job ${ids.running}`);
    expect(s).toContain('==> test: cargo test');
    expect(s).toContain('  ✓ fmt  0.9s');
    expect(s).toContain('  * test');
    // The log follows live.
    await store.appendLog(ids.running, [{ kind: 'out', step: 'test', time: Date.now(), text: 'test parses ... ok' }]);
    await waitScreen(session, (x) => x.includes('test parses ... ok'), 'a new log line');

    keys(session, 'c');
    s = await waitScreen(session, (x) => x.includes(`Cancel job ${ids.running}`), 'the confirmation');
    expect(s).toContain('? y/N');
    keys(session, 'y');
    await waitScreen(session, (x) => x.includes(`stops job ${ids.running} shortly`), 'the cancel request');
    expect((await job(ids.running)).cancelRequested).toBe('admin');
    // The agent stops it; the detail follows.
    await store.transition(ids.running, 'cancelled', { reason: 'cancelled by admin' });
    await waitScreen(session, (x) => x.includes('! cancelled') && x.includes('log:') && x.includes('ended'), 'the cancelled job');

    // Back to the list: cancel the queued job, at once.
    keys(session, 'Escape');
    await waitScreen(session, (x) => x.includes('BRANCH'), 'the jobs view');
    keys(session, 'g');
    keys(session, 'c');
    await waitScreen(session, (x) => x.includes(`Cancel job ${ids.queued}`), 'the second confirmation');
    keys(session, 'y');
    await waitScreen(session, (x) => new RegExp(`${ids.queued} ! cancelled`).test(x), 'the queued job cancelled');
    expect((await job(ids.queued)).status).toBe('cancelled');

    keys(session, 'q');
    await expectShellBack(session, 0);
  });

  it('Ctrl+C also restores the terminal and exits 0', async () => {
    const session = await startTui();
    await waitScreen(session, (x) => x.includes('● live'), 'the dashboard');
    keys(session, 'C-c');
    await expectShellBack(session, 0);
  });

  it('SIGTERM (and a dropped SSH session, SIGHUP) restore the terminal too', async () => {
    for (const [signal, code] of [['TERM', 143], ['HUP', 129]] as const) {
      const session = await startTui();
      await waitScreen(session, (x) => x.includes('● live'), 'the dashboard');
      const shell = tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim();
      const child = execFileSync('sh', ['-c', `ps -o pid= --ppid ${shell}`], { encoding: 'utf8' }).trim().split(/\s+/)[0];
      process.kill(Number(child), `SIG${signal}`);
      await expectShellBack(session, code);
    }
  });

  it('an API that goes away is shown in the header, and the dashboard keeps retrying', async () => {
    const session = await startTui();
    await waitScreen(session, (x) => x.includes('● live'), 'the dashboard');
    await api.app.close();
    const s = await waitScreen(session, (x) => x.includes('✗ API unreachable'), 'the outage');
    expect(s.split('\n')[1]).toMatch(/^cannot reach the API at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    expect(s).toContain(ids.done);
    keys(session, 'q');
    await expectShellBack(session, 0);
  });
});
