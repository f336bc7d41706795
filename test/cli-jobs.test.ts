/**
 * The job commands (`raibid jobs|logs|cancel|retry|run|watch|status`, src/cli/jobs.ts) against the
 * real API in-process (support/api-harness.ts) on a real Redis: their output, `--json`, exit codes,
 * one-line errors, `watch --exit-status`, the settings file, and the same commands from the bundle.
 * Jobs move through their states with the JobStore, as an agent would move them.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../src/cli/main.js';
import { ApiClient } from '../src/cli/client.js';
import { deadLetterKey } from '../src/jobs/keys.js';
import { ADMIN_TOKEN, READ_TOKEN, startApi, type ApiHarness } from './support/api-harness.js';
import { freePort, REDIS_BINARY, SKIP_REASON, startRedis, type TestRedis } from './support/redis.js';
import { raibidBundle } from './support/runtime.js';
import { FAKE_ADMIN, sampleData, startFakeApi } from './support/fake-api.js';

const TWO_POOLS = 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: docs\n      mode: pooled\n      slots: 2\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** Written to the fake terminal (watch). */
  readonly tty: string;
}

const home = mkdtempSync(join(tmpdir(), 'raibid-cli-jobs-home-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe.skipIf(!REDIS_BINARY).sequential(`job commands against the real API${REDIS_BINARY ? '' : ` — ${SKIP_REASON}`}`, () => {
  let redis: TestRedis;
  let api: ApiHarness;
  let sha: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: home, XDG_CONFIG_HOME: join(home, 'config'), RAIBID_API_URL: api.url, RAIBID_TOKEN: ADMIN_TOKEN, ...extra });
  async function raibid(argv: string[], o: { env?: NodeJS.ProcessEnv; tty?: boolean } = {}): Promise<Run> {
    const out: string[] = [];
    const err: string[] = [];
    let tty = '';
    const terminal = o.tty ? { stdout: { write: (s: string) => ((tty += s), true) } as unknown as NodeJS.WriteStream, stdin: process.stdin, stderr: process.stderr } : undefined;
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: o.env ?? env(), terminal };
    const code = await main(argv, io);
    return { code, out, err, tty };
  }
  /** An error: the exit code, one line on stderr starting "raibid: ", no stack. */
  function oneLine(r: Run, code: number): string {
    expect(r.code).toBe(code);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^raibid: /);
    expect(r.err[0]).not.toMatch(/\n|Error:/);
    return r.err[0];
  }
  const queue = async (o: { repo?: string; pool?: string } = {}) => {
    const r = await api.call('POST', '/api/v1/jobs', { body: { repo: o.repo ?? 'acme/widget', ...(o.pool ? { pool: o.pool } : {}) } });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  let entry = 0;
  const start = (id: string, agent = 'agent-rust-0') => api.store.start(id, agent, `${Date.now()}-${entry++}`);

  beforeAll(async () => {
    redis = await startRedis(TWO_POOLS);
    api = await startApi(redis, { yaml: TWO_POOLS });
    sha = (await api.gitea.addRepo('acme', 'widget', { files: { 'README.md': 'hello\n' } })).sha;
    await api.gitea.addRepo('acme', 'gadget', { files: { 'README.md': 'hello\n' } });
  });
  afterAll(async () => {
    await api?.close();
    await redis?.stop();
  });

  it('run queues a job and says how to follow it; --json prints the API\'s answer', async () => {
    const r = await raibid(['run', 'acme/widget']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^queued job [0-9a-z]{15} on pool rust$/);
    const id = r.out[0].split(' ')[2];
    expect(r.out[1]).toBe(`follow it: raibid watch ${id}   log: raibid logs ${id} -f`);
    const job = (await api.call('GET', `/api/v1/jobs/${id}`)).body;
    expect(job).toMatchObject({ repo: 'acme/widget', ref: 'refs/heads/main', sha, event: 'manual', status: 'queued' });
    const j = await raibid(['run', 'acme/gadget', '--ref', 'main', '--pool', 'docs', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out.join('\n'))).toMatchObject({ queued: true, pool: 'docs', id: expect.stringMatching(/^[0-9a-z]{15}$/) });
    const bySha = await raibid(['run', 'acme/widget', '--sha', sha]);
    expect(bySha.code).toBe(0);
  });

  it('run: mistakes exit 2, refusals of the API exit 1, each in one line', async () => {
    expect(oneLine(await raibid(['run']), 2)).toBe('raibid: raibid run needs a repository (owner/name); run "raibid run --help"');
    expect(oneLine(await raibid(['run', 'widget']), 2)).toBe('raibid: expected a repository as owner/name, got "widget"');
    expect(oneLine(await raibid(['run', 'acme/widget', '--ref', 'main', '--sha', sha]), 2)).toBe('raibid: give --ref or --sha, not both');
    expect(oneLine(await raibid(['run', 'acme/widget', '--sha', 'abc']), 2)).toContain('--sha: expected a full commit SHA');
    expect(oneLine(await raibid(['run', 'acme/nothing']), 1)).toBe('raibid: Gitea has no repository acme/nothing (or the bot user cannot see it)');
    expect(oneLine(await raibid(['run', 'acme/widget', '--ref', 'nope']), 1)).toBe('raibid: acme/widget has no branch, tag or commit "nope"');
    expect(oneLine(await raibid(['run', 'acme/widget', '--pool', 'gpu']), 1)).toBe('raibid: pool "gpu" does not exist (pools: rust, docs) (400 unknown-pool)');
    expect(oneLine(await raibid(['run', 'acme/widget'], { env: env({ RAIBID_TOKEN: READ_TOKEN }) }), 1)).toBe('raibid: this token may only read (403): running a job needs the admin token');
  });

  it('jobs lists newest first as a table; --json is the API\'s {jobs, next}; filters and --limit', async () => {
    const a = await queue();
    const b = await queue({ repo: 'acme/gadget' });
    await start(b);
    const r = await raibid(['jobs', '--limit', '2']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^ID +STATUS +REPO +BRANCH +DURATION +AGENT +CREATED$/);
    expect(r.out[1]).toMatch(new RegExp(`^${b} +\\* running +acme/gadget +main +\\d+\\.\\ds +agent-rust-0 +(now|\\d+s ago)$`));
    expect(r.out[2]).toMatch(new RegExp(`^${a} +\\. queued +acme/widget +main +(now|\\d+s ago)$`));
    expect(r.out[3]).toBe('(more: raise --limit, or filter with --status, --repo, --pool)');
    // durationMs of a running job is "so far": it differs between two calls.
    const timeless = (page: { jobs: Record<string, unknown>[] }) => ({ ...page, jobs: page.jobs.map(({ durationMs: _, ...j }) => j) });
    const json = JSON.parse((await raibid(['jobs', '--json', '--limit', '2'])).out.join('\n'));
    expect(timeless(json)).toEqual(timeless((await api.call('GET', '/api/v1/jobs?limit=2')).body));
    const running = JSON.parse((await raibid(['jobs', '--status', 'running', '--json'])).out.join('\n'));
    expect(running.jobs.map((j: { id: string }) => j.id)).toContain(b);
    expect(running.jobs.every((j: { status: string }) => j.status === 'running')).toBe(true);
    const gadget = JSON.parse((await raibid(['jobs', '--repo', 'acme/gadget', '--pool', 'rust', '--ref', 'main', '--json'])).out.join('\n'));
    expect(gadget.jobs.length).toBeGreaterThan(0);
    expect(gadget.jobs.every((j: { repo: string; pool: string }) => j.repo === 'acme/gadget' && j.pool === 'rust')).toBe(true);
    expect((await raibid(['jobs', '--status', 'dead'])).out).toEqual(['no jobs']);
    expect(oneLine(await raibid(['jobs', '--status', 'done']), 2)).toBe('raibid: --status: expected one of queued, running, success, failure, error, cancelled, dead, got "done"');
    expect(oneLine(await raibid(['jobs', '--limit', '0']), 2)).toContain('--limit');
    expect(oneLine(await raibid(['jobs', '--repo', 'widget']), 2)).toBe('raibid: --repo: expected owner/name, got "widget"');
  });

  it('jobs --limit above 200 pages through the API', async () => {
    for (let i = 0; i < 210; i++) await api.store.enqueue({ repo: 'acme/bulk', cloneUrl: 'http://gitea.test/acme/bulk.git', event: 'push', ref: 'refs/heads/main', sha: sha, pool: 'rust', stream: 'ci-jobs' });
    const r = JSON.parse((await raibid(['jobs', '--repo', 'acme/bulk', '--limit', '205', '--json'])).out.join('\n'));
    expect(r.jobs).toHaveLength(205);
    expect(new Set(r.jobs.map((j: { id: string }) => j.id)).size).toBe(205);
    expect(r.next).toBe(r.jobs[204].id);
    const all = await raibid(['jobs', '--repo', 'acme/bulk', '--limit', '1000']);
    expect(all.out).toHaveLength(211);
  });

  it('jobs show: steps, cache hit rate, pushed image, and why a queued job waits; --json', async () => {
    const id = await queue();
    const queued = await raibid(['jobs', 'show', id]);
    expect(queued.code).toBe(0);
    expect(queued.out[0]).toBe(`job ${id}  . queued  acme/widget  main @ ${sha.slice(0, 7)}  "Initial commit"`);
    expect(queued.out).toContain('waiting: for an agent of pool rust');
    await start(id);
    await api.store.transition(id, 'failure', {
      steps: [
        { name: 'fmt', status: 'success', exitCode: 0, durationMs: 1200 },
        { name: 'clippy', status: 'failure', exitCode: 101, durationMs: 64_000, reason: 'warnings denied' },
      ],
      cache: { hits: 12, misses: 3, hitRate: 0.8 },
      image: { ref: 'gitea.lan/acme/widget:abc', digest: 'sha256:0123', tags: ['main'] },
    });
    const r = await raibid(['jobs', 'show', id]);
    expect(r.out).toEqual([
      `job ${id}  X failure  acme/widget  main @ ${sha.slice(0, 7)}  "Initial commit"`,
      'event manual by admin · pool rust · attempt 1 · agent agent-rust-0',
      expect.stringMatching(/^created \d{4}-\d\d-\d\dT[\d:.]+Z · started (now|\d+s ago) · took \d+\.\ds$/),
      'steps:',
      '  ✓ fmt  1.2s',
      '  X clippy  1m 4s  exit 101: warnings denied',
      'cache: 80% (12 hits, 3 misses)',
      'image: gitea.lan/acme/widget:abc@sha256:0123 (tags: main)',
      `log: http://ci.test.invalid:8080/api/v1/jobs/${id}/logs`,
    ]);
    const json = JSON.parse((await raibid(['jobs', 'show', id, '--json'])).out.join('\n'));
    expect(json).toMatchObject({ id, status: 'failure', cache: { hitRate: 0.8 } });
    expect(oneLine(await raibid(['jobs', 'show', 'zzzzzzzzzzzzzzz']), 1)).toBe('raibid: no job zzzzzzzzzzzzzzz (unknown, or expired after the retention)');
    expect(oneLine(await raibid(['jobs', 'show', 'nope']), 2)).toBe('raibid: "nope" is not a job ID (15 lowercase letters and digits, as "raibid jobs" lists them)');
    expect(oneLine(await raibid(['jobs', 'show']), 2)).toBe('raibid: raibid jobs show needs a job ID; run "raibid jobs show --help"');
  });

  it('logs prints the log; logs -f follows it until the job ends', async () => {
    const id = await queue();
    await start(id);
    await api.store.appendLog(id, [
      { kind: 'step', step: 'test', time: Date.UTC(2026, 0, 1), text: 'cargo test' },
      { kind: 'out', step: 'test', time: Date.UTC(2026, 0, 1, 0, 0, 1), text: 'running 2 tests\ntest a ... ok' },
    ]);
    const text = await raibid(['logs', id]);
    expect(text.code).toBe(0);
    expect(text.out).toEqual(['2026-01-01T00:00:00.000Z ==> test: cargo test', '2026-01-01T00:00:01.000Z [test] running 2 tests', '2026-01-01T00:00:01.000Z [test] test a ... ok']);
    const following = raibid(['logs', id, '-f']);
    await sleep(300);
    await api.store.appendLog(id, [{ kind: 'out', step: 'test', time: Date.UTC(2026, 0, 1, 0, 0, 2), text: 'test b ... ok' }]);
    await sleep(200);
    await api.store.transition(id, 'success', { steps: [{ name: 'test', status: 'success', exitCode: 0, durationMs: 2000 }] });
    const f = await following;
    expect(f.code).toBe(0);
    expect(f.out.slice(0, 4)).toEqual([...text.out, '2026-01-01T00:00:02.000Z [test] test b ... ok']);
    expect(f.out.length).toBeGreaterThanOrEqual(4);
    const unknown = await raibid(['logs', 'zzzzzzzzzzzzzzz', '-f']);
    expect(oneLine(unknown, 1)).toBe('raibid: no job zzzzzzzzzzzzzzz (unknown, or expired after the retention)');
  });

  it('cancel: a queued job at once, a running one through its agent, an ended one is refused', async () => {
    const q = await queue();
    const r = await raibid(['cancel', q]);
    expect(r).toMatchObject({ code: 0, out: [`cancelled job ${q} (it was queued)`] });
    const running = await queue();
    await start(running, 'agent-rust-9');
    const c = await raibid(['cancel', running]);
    expect(c.out).toEqual([`cancel requested: job ${running} is running on agent-rust-9, which stops it within a few seconds`]);
    expect(oneLine(await raibid(['cancel', q]), 1)).toBe(`raibid: job ${q} has already ended (cancelled)`);
    const json = JSON.parse((await raibid(['cancel', running, '--json'])).out.join('\n'));
    expect(json).toMatchObject({ id: running, status: 'running', cancelRequested: 'admin' });
    expect(oneLine(await raibid(['cancel', running], { env: env({ RAIBID_TOKEN: READ_TOKEN }) }), 1)).toBe('raibid: this token may only read (403): cancelling a job needs the admin token');
  });

  it('retry: an ended job runs again as a new job; a running one is refused', async () => {
    const id = await queue();
    await raibid(['cancel', id]);
    const r = await raibid(['retry', id]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(new RegExp(`^queued job [0-9a-z]{15} on pool rust \\(retry of ${id}\\)$`));
    const again = (await api.call('GET', `/api/v1/jobs/${r.out[0].split(' ')[2]}`)).body;
    expect(again).toMatchObject({ event: 'retry', retryOf: id, status: 'queued' });
    const running = await queue();
    await start(running);
    expect(oneLine(await raibid(['retry', running]), 1)).toBe(`raibid: job ${running} is still running; cancel it first or wait for it to end`);
  });

  /** Moves a job through running to `end` with two steps, while `watch` runs. */
  async function play(id: string, end: 'success' | 'failure'): Promise<void> {
    await sleep(250);
    await start(id, 'agent-rust-3');
    await api.store.transition(id, 'running', { steps: [{ name: 'build', status: 'running', exitCode: null, durationMs: 0 }] }, ['running']);
    await sleep(250);
    await api.store.transition(id, 'running', { steps: [{ name: 'build', status: 'success', exitCode: 0, durationMs: 3000 }, { name: 'test', status: 'running', exitCode: null, durationMs: 0 }] }, ['running']);
    await sleep(250);
    await api.store.transition(id, end, { steps: [{ name: 'build', status: 'success', exitCode: 0, durationMs: 3000 }, { name: 'test', status: end, exitCode: end === 'success' ? 0 : 1, durationMs: 5000 }] });
  }

  it('watch --exit-status follows the steps and exits 0 when the job succeeded', async () => {
    const id = await queue();
    const [r] = await Promise.all([raibid(['watch', id, '--exit-status', '--interval', '0.1']), play(id, 'success')]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`. job ${id} queued`);
    expect(r.out).toContain(`* job ${id} running on agent-rust-3`);
    expect(r.out).toContain('  ✓ build  3.0s');
    expect(r.out[r.out.length - 2]).toBe('  ✓ test  5.0s');
    expect(r.out[r.out.length - 1]).toMatch(new RegExp(`^✓ job ${id} success in \\d+\\.\\ds$`));
    // Each line once.
    expect(new Set(r.out).size).toBe(r.out.length);
  });

  it('watch --exit-status exits 1 when the job failed; without it, 0', async () => {
    const a = await queue();
    const [fail] = await Promise.all([raibid(['watch', a, '--exit-status', '--interval', '0.1']), play(a, 'failure')]);
    expect(fail.code).toBe(1);
    expect(fail.out[fail.out.length - 1]).toMatch(new RegExp(`^X job ${a} failure in `));
    const b = await queue();
    const [plain] = await Promise.all([raibid(['watch', b, '--interval', '0.1']), play(b, 'failure')]);
    expect(plain.code).toBe(0);
    const c = await queue();
    await raibid(['cancel', c]);
    expect((await raibid(['watch', c, '--exit-status'])).code).toBe(1);
  });

  it('watch on a terminal redraws the step list in place', async () => {
    const id = await queue();
    const [r] = await Promise.all([raibid(['watch', id, '--interval', '0.1'], { tty: true }), play(id, 'success')]);
    expect(r.code).toBe(0);
    expect(r.tty).toContain('Refreshing every 0.1s (Ctrl+C stops watching, not the job)');
    // Cursor up over the previous block, then clear to the end of the screen.
    expect(r.tty).toMatch(/\x1b\[\d+A\x1b\[J/);
    const last = r.tty.split(/\x1b\[\d+A\x1b\[J/).pop()!;
    expect(last).toBe(`✓ job ${id}  acme/widget  main  success  ${last.match(/\d+\.\ds/)?.[0]}  on agent-rust-3\n  ✓ build  3.0s\n  ✓ test  5.0s\n`);
    expect(r.out[r.out.length - 1]).toMatch(new RegExp(`^✓ job ${id} success in `));
  });

  it('status shows the pools, the agents and the dead letters; --json', async () => {
    const now = Date.now();
    await api.store.heartbeat({ name: 'agent-docs-0', pool: 'docs', mode: 'pooled', slots: 2, busy: 1, jobs: ['abcdefghijklmno'], state: 'busy', startedAt: now - 60_000, lastSeen: now });
    await api.store.redis.xadd(deadLetterKey('ci-docs'), '*', 'job', 'abcdefghijklmno', 'attempt', '3');
    const r = await raibid(['status']);
    expect(r.code).toBe(0);
    const planned = Object.fromEntries(api.settings.pools.map((p) => [p.name, p.planned!]));
    // The cluster's line: this node's CPU and memory (the API reads its /proc) and agents against the plan.
    expect(r.out[0]).toMatch(new RegExp(`^cluster dgx-spark: cpu (\\d+(\\.\\d)?|\\?)/\\d+(\\.\\d)? cores, memory \\d+(\\.5)?/\\d+(\\.5)? GiB \\(in use/allocatable\\), agents 1 of ${planned.rust + planned.docs} planned$`));
    expect(r.out[2]).toMatch(/^POOL +MODE +QUEUED +DELIVERED +RUNNING +DEAD +AGENTS +PLAN$/);
    expect(r.out.find((l) => l.startsWith('docs'))).toMatch(new RegExp(`^docs +pooled +\\d+ +\\d+ +1 +1 +1 +${planned.docs}$`));
    expect(r.out).toContainEqual(expect.stringMatching(/^AGENT +POOL +MODE +STATE +BUSY +JOBS +LAST SEEN$/));
    expect(r.out).toContainEqual(expect.stringMatching(/^agent-docs-0 +docs +pooled +busy +1\/2 +abcdefghijklmno +(now|\ds ago)$/));
    expect(r.out[r.out.length - 1]).toBe('dead letters: docs 1 (jobs whose agents kept dying: raibid jobs --status dead)');
    const json = JSON.parse((await raibid(['status', '--json'])).out.join('\n'));
    expect(json).toEqual({ cluster: expect.objectContaining({ name: 'dgx-spark', agents: { running: 1, planned: planned.rust + planned.docs } }), pools: (await api.call('GET', '/api/v1/pools')).body.pools, agents: expect.any(Array) });
    expect(json.agents[0]).toMatchObject({ name: 'agent-docs-0', free: 1 });
  });

  it('says which setting is missing or wrong, in one line', async () => {
    expect(oneLine(await raibid(['jobs'], { env: { HOME: home, XDG_CONFIG_HOME: join(home, 'none') } }), 2)).toBe(`raibid: no API address: set RAIBID_API_URL, pass --api URL, or put "api: URL" in ${join(home, 'none', 'raibid', 'config.yaml')}`);
    expect(oneLine(await raibid(['jobs'], { env: env({ RAIBID_API_URL: 'ci.lan' }) }), 2)).toBe('raibid: RAIBID_API_URL: expected the API\'s URL such as http://ci.example.lan:8080, got "ci.lan"');
    expect(oneLine(await raibid(['jobs'], { env: env({ RAIBID_TOKEN: 'wrong-token-000000000000' }) }), 1)).toBe(`raibid: the API at ${new URL(api.url).host} refused the token (401): check RAIBID_TOKEN, --token or the config file`);
    expect(oneLine(await raibid(['jobs'], { env: env({ RAIBID_TOKEN: '' }) }), 1)).toBe(`raibid: the API at ${new URL(api.url).host} needs a token (401): set RAIBID_TOKEN, --token or token: in the config file`);
    const port = await freePort();
    expect(oneLine(await raibid(['status', '--api', `http://127.0.0.1:${port}`]), 1)).toBe(`raibid: cannot reach the API at http://127.0.0.1:${port}: connection refused`);
    expect(oneLine(await raibid(['jobs', '--api', 'http://nowhere.invalid:8080']), 1)).toBe('raibid: cannot reach the API at http://nowhere.invalid:8080: host not found');
    // Flags win over the environment.
    expect((await raibid(['jobs', '--api', api.url, '--token', READ_TOKEN, '--limit', '1'], { env: env({ RAIBID_API_URL: `http://127.0.0.1:${port}`, RAIBID_TOKEN: 'x' }) })).code).toBe(0);
  });

  it('reads the API and token from the config file, which must be private when it holds a token', async () => {
    const dir = join(home, 'cfg', 'raibid');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `# my CI\napi: ${api.url}\ntoken: ${ADMIN_TOKEN}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    const fileEnv = { HOME: home, XDG_CONFIG_HOME: join(home, 'cfg') };
    expect((await raibid(['jobs', '--limit', '1'], { env: fileEnv })).code).toBe(0);
    chmodSync(file, 0o644);
    const open = oneLine(await raibid(['jobs'], { env: fileEnv }), 2);
    expect(open).toBe(`raibid: ${file} holds a token and other users can read it (mode 0644): run chmod 600 ${file}`);
    expect(open).not.toContain(ADMIN_TOKEN);
    writeFileSync(file, `api: ${api.url}\ntokn: x\n`);
    expect(oneLine(await raibid(['jobs'], { env: fileEnv }), 2)).toBe(`raibid: ${file}: unknown key "tokn" (expected api, token, checkout)`);
    writeFileSync(file, `api: ${api.url}\n`);
    // No token in the file: readable is fine; the token comes from the environment.
    expect((await raibid(['jobs', '--limit', '1'], { env: { ...fileEnv, RAIBID_TOKEN: READ_TOKEN } })).code).toBe(0);
  });

  it('--help on every command: exit 0, the usage first', async () => {
    for (const c of ['jobs', 'logs', 'cancel', 'retry', 'run', 'watch', 'status', 'scale', 'tui']) {
      const r = await raibid([c, '--help'], { env: {} });
      expect(r.code, c).toBe(0);
      expect(r.out[0], c).toMatch(new RegExp(`^Usage: raibid ${c}\\b`));
      expect(r.err).toEqual([]);
    }
    const top = await raibid(['--help']);
    for (const c of ['raibid tui', 'raibid jobs', 'raibid logs ID [-f]', 'raibid watch ID [--exit-status]', 'raibid status', 'raibid scale POOL N']) expect(top.out.join('\n')).toContain(c);
  });

  it('the fake API the dashboard tests use answers in the same shapes', async () => {
    const fake = await startFakeApi(sampleData());
    try {
      const real = new ApiClient({ url: api.url, token: ADMIN_TOKEN });
      const stand = new ApiClient({ url: fake.url, token: FAKE_ADMIN });
      const keys = (o: object) => Object.keys(o).sort();
      expect(keys((await stand.pools())[0])).toEqual(keys((await real.pools())[0]));
      expect(keys((await stand.agents())[0])).toEqual(keys((await real.agents())[0]).filter((k) => k !== 'version'));
      const [realCluster, fakeCluster] = [(await real.cluster())!, (await stand.cluster())!];
      expect(keys(fakeCluster)).toEqual(keys(realCluster));
      expect(keys(fakeCluster.node!)).toEqual(keys(realCluster.node!));
      for (const k of ['cpu', 'memory'] as const) expect(keys(fakeCluster.node![k])).toEqual(keys(realCluster.node![k]));
      expect(keys(fakeCluster.agents)).toEqual(keys(realCluster.agents));
      expect(keys(fakeCluster.pools[0])).toEqual(keys(realCluster.pools[0]));
      const realJob = (await real.jobs({ limit: 1 })).jobs[0];
      const fakeJob = (await stand.jobs({ limit: 1 })).jobs[0];
      for (const k of ['id', 'repo', 'event', 'ref', 'sha', 'pool', 'status', 'attempt', 'createdAt', 'steps', 'url']) {
        expect(realJob, k).toHaveProperty(k);
        expect(fakeJob, k).toHaveProperty(k);
      }
      for (const k of keys(fakeJob)) expect(['cloneUrl', 'title', 'actor', 'waiting', 'durationMs', 'agent', 'startedAt', 'finishedAt', 'reason', 'cache', 'image', 'pr', 'retryOf', 'cancelRequested', 'pipeline', ...keys(realJob)], k).toContain(k);
    } finally {
      await fake.close();
    }
  });

  describe('from the bundle (what the images run)', () => {
    const runBundle = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const bundle = await raibidBundle();
      return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bundle, ...args], { env: { PATH: process.env.PATH, HOME: home, RAIBID_API_URL: api.url, RAIBID_TOKEN: ADMIN_TOKEN, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    };

    it('lists, shows and runs jobs', async () => {
      const run = await runBundle(['run', 'acme/widget', '--json']);
      expect(run.code).toBe(0);
      const id = JSON.parse(run.stdout).id as string;
      const list = await runBundle(['jobs', '--limit', '3', '--json']);
      expect(JSON.parse(list.stdout).jobs[0].id).toBe(id);
      const show = await runBundle(['jobs', 'show', id]);
      expect(show.stdout).toContain(`job ${id}  . queued  acme/widget`);
      const status = await runBundle(['status']);
      expect(status.code).toBe(0);
      expect(await runBundle(['jobs'], { RAIBID_TOKEN: 'nope-nope-nope-nope' })).toEqual({ code: 1, stdout: '', stderr: `raibid: the API at ${new URL(api.url).host} refused the token (401): check RAIBID_TOKEN, --token or the config file\n` });
    });

    it('carries the dashboard: raibid tui from the bundle asks for a terminal when it has none', async () => {
      const r = await runBundle(['tui']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('raibid: raibid tui needs a terminal (stdin and stdout must be a TTY); for scripts use raibid jobs, raibid status or raibid watch\n');
    });
  });
});
