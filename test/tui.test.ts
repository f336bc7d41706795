/**
 * The dashboard (`raibid tui`, src/cli/tui/) as ink components against the fake API
 * (support/fake-api.ts, real HTTP): frame snapshots at 80×24 and 120×40, every key, resize, the API
 * going down, a wrong or read-only token, the empty state and 1,000 jobs. Times are fixed (the fake's
 * T0), so frames are the same on every run. The real API and a real terminal: tui-tmux.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

// Colours on (ink's chalk reads this when it is first imported), so the status colours can be checked.
vi.hoisted(() => {
  process.env.FORCE_COLOR = '1';
});

import { createElement as h } from 'react';
import { ApiClient } from '../src/cli/client.js';
import type { ScaleResult } from '../src/cli/scale.js';
import { App, type Scaler } from '../src/cli/tui/app.js';
import { LOG_WINDOW } from '../src/cli/tui/detail.js';
import { parseFilter, Poller } from '../src/cli/tui/poller.js';
import { RENDER_OPTIONS } from '../src/cli/tui/run.js';
import { sparkline } from '../src/cli/tui/sparkline.js';
import { fakeId, fakeJob, FAKE_ADMIN, FAKE_READ, sampleData, startFakeApi, T0, type FakeApi } from './support/fake-api.js';
import { KEYS, renderTui, stripAnsi, type TuiHandle } from './support/tui-render.js';

const SMALL = { columns: 80, rows: 24 };
const LARGE = { columns: 120, rows: 40 };

interface Dashboard {
  readonly api: FakeApi;
  readonly poller: Poller;
  readonly tui: TuiHandle;
}

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function dashboard(o: { data?: Parameters<typeof startFakeApi>[0]; size?: { columns: number; rows: number }; token?: string; scaler?: Scaler; noScaler?: string; intervalMs?: number; api?: FakeApi; waitLive?: boolean } = {}): Promise<Dashboard> {
  const api = o.api ?? (await startFakeApi(o.data ?? sampleData()));
  const client = new ApiClient({ url: api.url, token: o.token ?? FAKE_ADMIN, timeoutMs: 2000 });
  const poller = new Poller(client, { intervalMs: o.intervalMs ?? 60_000, now: () => T0 });
  const tui = renderTui(h(App, { poller, client, cluster: 'ci.example.lan', now: () => T0, scaler: o.scaler, noScaler: o.noScaler }), o.size ?? SMALL);
  running.push(async () => {
    tui.unmount();
    poller.stop();
    await api.close();
  });
  if (o.waitLive !== false) await tui.waitFor((f) => f.includes('● live') && !f.includes('Loading'), 'the first load');
  return { api, poller, tui };
}

/** Every frame fits the terminal: at most rows - 1 lines (the last row stays free) and no line wider than it. */
function expectFits(t: TuiHandle): void {
  const lines = stripAnsi(t.rawFrame()).split('\n');
  expect(lines.length).toBe(t.size.rows - 1);
  for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(t.size.columns);
}

/** The line of a frame that contains `text`. */
const lineWith = (frame: string, text: string) => frame.split('\n').find((l) => l.includes(text)) ?? '';
/** The raw (coloured) line containing `text`. */
const rawLineWith = (t: TuiHandle, text: string) => t.rawFrame().split('\n').find((l) => stripAnsi(l).includes(text)) ?? '';
const selectedId = (t: TuiHandle) => /\x1b\[7m(j\d{14})/.exec(t.rawFrame())?.[1];

describe('the dashboard: layout', () => {
  it('the jobs view at 80×24', async () => {
    const { tui } = await dashboard();
    expectFits(tui);
    expect(tui.frame()).toMatchSnapshot();
  });

  it('the jobs view at 120×40 shows more of each column and when each job was created', async () => {
    const { tui } = await dashboard({ size: LARGE });
    expectFits(tui);
    expect(tui.frame()).toContain('CREATED');
    expect(tui.frame()).toMatchSnapshot();
  });

  it('colours each status: green success, yellow running, red failure and error, grey queued and cancelled', async () => {
    const { tui } = await dashboard();
    // Rows 1-6 of the sample are queued, running, success, failure, cancelled, error.
    const colourOf = (n: number) => /\x1b\[(\d+)m[✓*X.!] (\w+)/.exec(rawLineWith(tui, fakeId(n)))?.slice(1);
    expect(colourOf(1)).toEqual(['90', 'queued']);
    expect(colourOf(2)).toEqual(['33', 'running']);
    expect(colourOf(3)).toEqual(['32', 'success']);
    expect(colourOf(4)).toEqual(['31', 'failure']);
    expect(colourOf(5)).toEqual(['90', 'cancelled']);
    expect(colourOf(6)).toEqual(['31', 'error']);
  });

  it('the header has the cluster, the connection, node CPU and memory in use against allocatable, agents against the plan, the queue and dead letters', async () => {
    const { tui, api } = await dashboard();
    const [title, stats] = tui.frame().split('\n');
    expect(title).toBe('raibid · spark (ci.example.lan)  ● live  cpu 3.3/18 cores · mem 41/110 GiB');
    expect(stats).toMatch(/^agents 1 of 10 planned · slots 1\/1 busy · queued 1 · dead 2  queue /);
    // Running short turns the figure yellow (over 85 % of allocatable), then red (over it).
    api.cluster = { ...api.cluster!, node: { cpu: { capacityMillis: 20_000, allocatableMillis: 18_000, usedMillis: 17_000 }, memory: { capacityBytes: 2 ** 37, allocatableBytes: 2 ** 36, usedBytes: 2 ** 37 } } };
    await tui.press('r');
    await tui.waitFor((f) => f.includes('cpu 17/18 cores · mem 128/64 GiB'), 'the new figures');
    expect(rawLineWith(tui, 'cpu 17')).toMatch(/\x1b\[33m17\/18 cores.*\x1b\[31m128\/64 GiB/);
  });

  it('without the cluster route (an older API) the header falls back to the API address and the checkout\'s plan', async () => {
    const plan = new Map([['rust', 6], ['docs', 1]]);
    const scaler: Scaler = { root: '/checkout', current: () => 6, run: async () => ({}) as ScaleResult, plan: () => plan };
    const { tui } = await dashboard({ scaler, data: { ...sampleData(), cluster: undefined } });
    const [title, stats] = tui.frame().split('\n');
    expect(title).toBe('raibid · ci.example.lan  ● live');
    expect(stats).toMatch(/^agents 1 of 7 planned · /);
  });

  it('CPU in use reads … until the API has two samples', async () => {
    const data = sampleData();
    data.cluster = { ...data.cluster!, node: { ...data.cluster!.node!, cpu: { capacityMillis: 20_000, allocatableMillis: 18_000, usedMillis: null } } };
    const { tui } = await dashboard({ data });
    expect(tui.frame().split('\n')[0]).toContain('cpu …/18 cores · mem 41/110 GiB');
  });

  it('adapts to a resize, both ways', async () => {
    const { tui } = await dashboard();
    await tui.resize(120, 40);
    await tui.waitFor((f) => f.includes('CREATED'), 'the wide layout');
    expectFits(tui);
    await tui.resize(80, 24);
    await tui.waitFor((f) => !f.includes('CREATED'), 'the narrow layout');
    expectFits(tui);
    await tui.resize(60, 12);
    await tui.waitFor((f) => f.split('\n').length === 11, 'a tiny terminal');
    expectFits(tui);
    expect(tui.frame()).toMatchSnapshot();
  });

  it('renders at most 10 times a second on a real terminal, drawing lines in place', () => {
    expect(RENDER_OPTIONS.maxFps).toBeLessThanOrEqual(10);
    expect(RENDER_OPTIONS.exitOnCtrlC).toBe(false);
  });

  it('draws the queue depth of the last 60 s as a sparkline', () => {
    const samples = Array.from({ length: 60 }, (_, i) => ({ t: T0 - 59_000 + i * 1000, value: i < 30 ? 0 : i - 30 }));
    expect(sparkline(samples, 12, T0)).toBe('▁▁▁▁▁▁▂▃▄▅▇█');
    expect(sparkline([], 5, T0)).toBe('     ');
    expect(sparkline([{ t: T0, value: 0 }], 4, T0)).toBe('   ▁');
  });
});

describe('the dashboard: keys', () => {
  it('↑/↓ and j/k move the selection; PgDn, G and g jump', async () => {
    const { tui } = await dashboard();
    expect(selectedId(tui)).toBe(fakeId(1));
    await tui.press(KEYS.down, 'j');
    expect(selectedId(tui)).toBe(fakeId(3));
    await tui.press('k');
    expect(selectedId(tui)).toBe(fakeId(2));
    await tui.press(KEYS.up, KEYS.up);
    expect(selectedId(tui)).toBe(fakeId(1));
    await tui.press('G');
    expect(selectedId(tui)).toBe(fakeId(6));
    await tui.press('g');
    expect(selectedId(tui)).toBe(fakeId(1));
    await tui.press(KEYS.pageDown);
    expect(selectedId(tui)).toBe(fakeId(6));
  });

  it('keys that arrive together in one read (a slow link, a paste) count one by one', async () => {
    const { tui, api } = await dashboard();
    await tui.press('jj');
    expect(selectedId(tui)).toBe(fakeId(3));
    await tui.press('/failure\r');
    await tui.waitFor((x) => x.includes('filter: status failure'), 'the filter typed in one read');
    await tui.press('/\x7f\x7f\x7f\x7f\x7f\x7f\x7f\r');
    await tui.waitFor((x) => !x.includes('filter:') && x.includes(fakeId(1)), 'no filter');
    await tui.press('nacme/widget\rmain\r');
    await tui.waitFor((x) => x.includes(`queued job ${fakeId(900)} for acme/widget main on pool rust`), 'the job run from one read');
    expect(api.requests.find((r) => r.method === 'POST')?.body).toEqual({ repo: 'acme/widget', ref: 'main' });
  });

  it('the selection stays on its job when newer jobs arrive above it', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', 'j');
    expect(selectedId(tui)).toBe(fakeId(3));
    api.jobs.unshift(fakeJob(0, { createdAt: T0 }));
    await tui.press('r');
    await tui.waitFor((f) => f.includes(fakeId(0)), 'the new job');
    expect(selectedId(tui)).toBe(fakeId(3));
  });

  it('Enter opens the job: steps with results and durations, cache hit rate, pushed image, its log', async () => {
    const { tui } = await dashboard({ size: LARGE });
    await tui.press('j', 'j', KEYS.enter);
    const f = await tui.waitFor((x) => x.includes('test result: ok'), 'the log of job 3');
    expect(f).toContain(`Job ${fakeId(3)}`);
    expect(f).toContain('✓ success  acme/widget  main @ 3333333  "Commit number 3"');
    expect(f).toContain('cache 80% (120 hits, 30 misses)');
    expect(f).toContain('image gitea.lan/acme/widget:3333333@sha256:0123456789ab');
    expect(f).toContain('  ✓ fmt  1.1s');
    expect(f).toContain('  ✓ test  2m 0s');
    expect(f).toContain('log: 3 lines, ended');
    expectFits(tui);
    expect(f).toMatchSnapshot();
  });

  it('the detail of a running job follows its log live, without escape codes from the output', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', KEYS.enter);
    let f = await tui.waitFor((x) => x.includes('PASS [   0.012s] widget tests::parses'), 'the log so far');
    expect(f).toContain('  * test');
    expect(f).toContain('==> test: cargo nextest run');
    expect(tui.rawFrame()).not.toContain('\x1b[32m    Starting');
    expect(f).toContain('    Starting 12 tests across 1 binary');
    api.appendLog(fakeId(2), [{ kind: 'out', step: 'test', time: T0, text: '        PASS [   0.013s] widget tests::live' }]);
    f = await tui.waitFor((x) => x.includes('tests::live'), 'the appended line');
    expect(f).toContain('log: following · 11 lines');
    expectFits(tui);
    expect(f).toMatchSnapshot();
    await tui.press(KEYS.escape);
    await tui.waitFor((x) => x.includes(' Jobs ') && x.includes('BRANCH'), 'the jobs view again');
  });

  it('a queued job says why it is not running yet', async () => {
    const { tui } = await dashboard();
    await tui.press(KEYS.enter);
    const f = await tui.waitFor((x) => x.includes('waiting:'), 'the queued job');
    expect(lineWith(f, 'waiting:')).toBe('waiting: pod agent-rust-x: 0/1 nodes are available: insufficient cpu');
    expect(f).toContain('(no output yet)');
  });

  it('the log keeps a bounded window and scrolls back within it; End follows again', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', KEYS.enter);
    await tui.waitFor((x) => x.includes('log: following'), 'the detail');
    const lines = Array.from({ length: LOG_WINDOW + 500 }, (_, i) => `output line ${i + 1}`);
    api.appendLog(fakeId(2), [{ kind: 'out', step: 'test', time: T0, text: lines.join('\n') }]);
    let f = await tui.waitFor((x) => x.includes(`output line ${LOG_WINDOW + 500}`), 'the last line');
    expect(f).toContain(`log: following · ${LOG_WINDOW} lines (first 510 dropped)`);
    await tui.press(KEYS.up, KEYS.up, KEYS.up);
    f = tui.frame();
    expect(f).toContain(`log: scrolled back 3 of ${LOG_WINDOW} lines · End follows`);
    expect(f).not.toContain(`output line ${LOG_WINDOW + 500}`);
    expect(f).toContain(`output line ${LOG_WINDOW + 497}`);
    await tui.press(KEYS.pageUp);
    expect(tui.frame()).toMatch(/scrolled back 1[0-9] of/);
    await tui.press('g');
    f = tui.frame();
    expect(f).toContain('\noutput line 501\n');
    expect(f).not.toContain('output line 500\n');
    await tui.press(KEYS.end);
    expect(tui.frame()).toContain(`output line ${LOG_WINDOW + 500}`);
    expect(tui.frame()).toContain('log: following');
  });

  it('c cancels the selected job after a confirmation; anything but y leaves it', async () => {
    const { tui, api } = await dashboard();
    await tui.press('c');
    const f = tui.frame();
    expect(lineWith(f, 'Cancel job')).toBe(`Cancel job ${fakeId(1)} (acme/gadget feature/login-form, queued)? y/N`);
    expectFits(tui);
    expect(f).toMatchSnapshot();
    await tui.press('n');
    expect(tui.frame()).toContain('not confirmed; nothing changed');
    expect(api.requests.filter((r) => r.method === 'POST')).toEqual([]);
    await tui.press('c', 'y');
    await tui.waitFor((x) => x.includes(`cancelled job ${fakeId(1)}`), 'the cancel');
    await tui.waitFor((x) => /j0+1 +! cancelled/.test(x), 'the job cancelled in the table');
    expect(api.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([`/api/v1/jobs/${fakeId(1)}/cancel`]);
  });

  it('c on a running job asks its agent; on an ended job it says so and sends nothing', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', 'c', 'y');
    await tui.waitFor((x) => x.includes(`cancel requested; agent-rust-7c9f4 stops job ${fakeId(2)} shortly`), 'the cancel request');
    await tui.press('j', 'c');
    expect(tui.frame()).toContain(`job ${fakeId(3)} has already ended (success); R retries it`);
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('c from the job detail cancels that job', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', KEYS.enter);
    await tui.waitFor((x) => x.includes('log: following'), 'the detail');
    await tui.press('c');
    expect(tui.frame()).toContain(`Cancel job ${fakeId(2)}`);
    await tui.press('y');
    await tui.waitFor((x) => x.includes('cancel requested by admin; the agent is stopping it'), 'the detail to show the request');
    expect(api.requests.some((r) => r.path === `/api/v1/jobs/${fakeId(2)}/cancel`)).toBe(true);
  });

  it('R retries an ended job as a new one, and refuses a running one', async () => {
    const { tui, api } = await dashboard();
    await tui.press('j', 'j', 'j', 'R');
    await tui.waitFor((x) => x.includes(`queued job ${fakeId(900)} (retry of ${fakeId(4)}) on pool rust`), 'the retry');
    await tui.waitFor((x) => new RegExp(`^${fakeId(900)} `, 'm').test(x), 'the new job in the table');
    await tui.press('g', 'j', 'j', 'R');
    expect(tui.frame()).toContain(`job ${fakeId(2)} is still running; c cancels it`);
    expect(api.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([`/api/v1/jobs/${fakeId(4)}/retry`]);
  });

  it('n asks for a repository and a ref and runs a job', async () => {
    const { tui, api } = await dashboard();
    await tui.press('n');
    expect(tui.frame()).toContain('new job · repository (owner/name):');
    await tui.press('acme/widgex', KEYS.backspace, 't', KEYS.enter);
    expect(tui.frame()).toContain('new job · acme/widget · branch, tag or commit (empty: default branch):');
    expectFits(tui);
    await tui.press('release', KEYS.enter);
    await tui.waitFor((x) => x.includes(`queued job ${fakeId(900)} for acme/widget release on pool rust`), 'the new job');
    expect(api.requests.find((r) => r.method === 'POST')?.body).toEqual({ repo: 'acme/widget', ref: 'release' });
  });

  it('n: a malformed repository is refused at once, an unknown one with the API\'s message; Esc leaves the prompt', async () => {
    const { tui } = await dashboard();
    await tui.press('n', 'widget', KEYS.enter);
    expect(lineWith(tui.frame(), 'new job')).toBe('new job · repository (owner/name): widget   expected owner/name');
    await tui.press(KEYS.escape);
    await tui.press('n', 'acme/nothing', KEYS.enter, KEYS.enter);
    await tui.waitFor((x) => x.includes('Gitea has no repository acme/nothing (or the bot user cannot see it)'), 'the refusal');
    await tui.press('n', 'q', KEYS.escape);
    expect(tui.frame()).toContain('BRANCH');
    expect(tui.instance).toBeDefined();
  });

  it('/ filters by status, repository or text, and an empty filter clears it', async () => {
    const { tui, api } = await dashboard();
    await tui.press('/', 'failure', KEYS.enter);
    let f = await tui.waitFor((x) => x.includes('filter: status failure') && x.includes(fakeId(4)), 'the status filter');
    expect(f.split('\n').filter((l) => /^j\d{14}/.test(l)).map((l) => l.slice(0, 15))).toEqual([fakeId(4)]);
    expect(api.requests.some((r) => r.path.includes('status=failure'))).toBe(true);
    await tui.press('/');
    expect(tui.frame()).toContain('filter (status, owner/name or text; empty clears): failure');
    await tui.press(...Array(7).fill(KEYS.backspace), 'acme/gadget', KEYS.enter);
    f = await tui.waitFor((x) => x.includes('filter: repo acme/gadget') && x.includes(fakeId(1)), 'the repo filter');
    expect(f.split('\n').filter((l) => /^j\d{14}/.test(l)).map((l) => l.slice(0, 15))).toEqual([fakeId(1), fakeId(4)]);
    await tui.press('/', ...Array(11).fill(KEYS.backspace), 'v1.2', KEYS.enter);
    f = await tui.waitFor((x) => x.includes('filter: "v1.2"') && x.includes(fakeId(6)), 'the text filter');
    expect(f.split('\n').filter((l) => /^j\d{14}/.test(l)).map((l) => l.slice(0, 15))).toEqual([fakeId(6)]);
    await tui.press('/', ...Array(4).fill(KEYS.backspace), KEYS.enter);
    await tui.waitFor((x) => !x.includes('filter:') && x.includes(fakeId(5)), 'no filter');
    expect(parseFilter('status:running repo:a/b x')).toEqual({ status: 'running', repo: 'a/b', text: 'x' });
  });

  it('/ with no match says so', async () => {
    const { tui } = await dashboard();
    await tui.press('/', 'dead', KEYS.enter);
    const f = await tui.waitFor((x) => x.includes('No jobs match status dead'), 'the empty filter');
    expect(f).toContain('Press / to change the filter.');
  });

  it('Tab cycles Jobs → Agents → Pools → Jobs; Shift+Tab goes back', async () => {
    const { tui } = await dashboard();
    await tui.press(KEYS.tab);
    let f = tui.frame();
    expect(lineWith(f, 'AGENT')).toMatch(/^AGENT +POOL +MODE +STATE +BUSY JOBS +SEEN$/);
    expect(lineWith(f, 'agent-rust-7c9f4')).toMatch(/^agent-rust-7c9f4 +rust +ephemeral busy +1\/1 j00000000000002 +2s ago$/);
    expectFits(tui);
    expect(f).toMatchSnapshot();
    await tui.press(KEYS.tab);
    f = tui.frame();
    expect(lineWith(f, 'docs')).toMatch(/^docs +pooled +0 +0 +0 +2 +0 +2 +/);
    expectFits(tui);
    expect(f).toMatchSnapshot();
    await tui.press(KEYS.tab);
    expect(tui.frame()).toContain('BRANCH');
    await tui.press(KEYS.shiftTab);
    expect(tui.frame()).toContain('LAST 60 s');
  });

  it('Enter on an agent opens its job', async () => {
    const { tui } = await dashboard();
    await tui.press(KEYS.tab, KEYS.enter);
    await tui.waitFor((x) => x.includes(`Job ${fakeId(2)}`), 'the agent\'s job');
  });

  it('r refreshes at once', async () => {
    const { tui, api } = await dashboard();
    api.jobs[0] = { ...api.jobs[0], status: 'running', agent: 'agent-rust-new', startedAt: T0 - 5_000 };
    expect(tui.frame()).not.toContain('agent-rust-new');
    await tui.press('r');
    await tui.waitFor((x) => x.includes('agent-rust-new'), 'the refreshed job');
  });

  it('refreshes every second by itself', async () => {
    const { tui, api } = await dashboard({ intervalMs: 1000 });
    api.jobs[0] = { ...api.jobs[0], status: 'success', startedAt: T0 - 5_000, finishedAt: T0 };
    await tui.waitFor((x) => /j0+1 +✓ success/.test(x), 'the next refresh', 2500);
  });

  it('q quits; Ctrl+C quits', async () => {
    const a = await dashboard();
    const aExit = a.tui.instance.waitUntilExit();
    await a.tui.press('q');
    await expect(aExit).resolves.toBeUndefined();
    const b = await dashboard();
    const bExit = b.tui.instance.waitUntilExit();
    await b.tui.press(KEYS.ctrlC);
    await expect(bExit).resolves.toBeUndefined();
  });
});

describe('the dashboard: scaling through raibid.yaml', () => {
  const result = (ok: boolean): ScaleResult => ({
    ok,
    pool: 'rust',
    from: 8,
    to: 9,
    summary: ok ? 'pool rust: maxReplicas 8 → 9; synth accepted it' : 'synth refused maxReplicas 9 for pool rust: agents need 18 CPU, 0.15 free; raibid.yaml is unchanged',
    diff: ['--- a/raibid.yaml', '+++ b/raibid.yaml', '@@ -3,1 +3,1 @@', '-      maxReplicas: 8', '+      maxReplicas: 9'],
    synth: ok ? ['capacity: 18 CPU / 112.55 GiB allocatable …'] : ['capacity: the stack does not fit the node:', '  - agents need 18 CPU, 0.15 free', '', '| Line | CPU |'],
    changes: ok ? [' M raibid.yaml', ' M CAPACITY.md'] : undefined,
    commit: ok ? ['  git add -- raibid.yaml CAPACITY.md', '  git commit -m "Scale pool rust to 9 agents"', '  git push'] : [],
  });
  const scalerFor = (ok: boolean) => {
    const calls: [string, number][] = [];
    const scaler: Scaler = {
      root: '/home/me/raibid-ci',
      current: () => 8,
      run: async (pool, to) => {
        calls.push([pool, to]);
        return result(ok);
      },
      plan: () => new Map([['rust', ok && calls.length ? 9 : 8]]),
    };
    return { scaler, calls };
  };

  it('+ in the Pools view asks, then edits raibid.yaml through synth and shows the commit to make', async () => {
    const { scaler, calls } = scalerFor(true);
    const { tui } = await dashboard({ scaler });
    await tui.press(KEYS.tab, KEYS.tab, '+');
    expect(lineWith(tui.frame(), 'Scale pool')).toBe('Scale pool rust from 8 to 9 agents (raibid.yaml + synth; no commit)? y/N');
    expect(tui.frame()).toMatchSnapshot();
    await tui.press('y');
    const f = await tui.waitFor((x) => x.includes('git push'), 'the report');
    expect(calls).toEqual([['rust', 9]]);
    expect(f).toContain('pool rust: maxReplicas 8 → 9; synth accepted it');
    expect(f).toContain('  git commit -m "Scale pool rust to 9 agents"');
    expect(f).toContain('+      maxReplicas: 9');
    expectFits(tui);
    expect(f).toMatchSnapshot();
    await tui.press('x');
    await tui.waitFor((x) => x.includes('LAST 60 s'), 'the pools view again');
    expect(lineWith(tui.frame(), 'rust ')).toMatch(/ 9 +[▁-█ ]*$/);
  });

  it('- asks too; a refusal by synth shows its budget and leaves raibid.yaml alone', async () => {
    const { scaler, calls } = scalerFor(false);
    const { tui } = await dashboard({ scaler });
    await tui.press(KEYS.tab, KEYS.tab, '-');
    expect(tui.frame()).toContain('Scale pool rust from 8 to 7 agents (raibid.yaml + synth; no commit)? y/N');
    await tui.press('N');
    expect(calls).toEqual([]);
    await tui.press('+', 'y');
    const f = await tui.waitFor((x) => x.includes('raibid.yaml is unchanged.'), 'the refusal');
    expect(f).toContain('capacity: the stack does not fit the node:');
  });

  it('+ outside the Pools view, or without a checkout, says what to do', async () => {
    const { scaler } = scalerFor(true);
    const withScaler = await dashboard({ scaler });
    await withScaler.tui.press('+');
    expect(withScaler.tui.frame()).toContain('select a pool in the Pools view (Tab) to scale it');
    const without = await dashboard({ noScaler: '+/- edit raibid.yaml in a raibid-ci checkout, and there is none at /tmp and the folders above it' });
    await without.tui.press(KEYS.tab, KEYS.tab, '+');
    expect(without.tui.frame()).toContain('+/- edit raibid.yaml in a raibid-ci checkout, and there is none at /tmp');
  });
});

describe('the dashboard: failures and sizes', () => {
  it('API down: the header says so and keeps retrying; the last data stays; it recovers', async () => {
    const { tui, api } = await dashboard({ intervalMs: 100 });
    await api.setDown(true);
    let f = await tui.waitFor((x) => x.includes('API unreachable'), 'the outage');
    const [title, why] = f.split('\n');
    expect(title).toMatch(/^raibid · spark \(ci\.example\.lan\) {2}✗ API unreachable · retrying in \ds$/);
    expect(why).toMatch(/^cannot reach the API at http:\/\/127\.0\.0\.1:\d+: connection refused$/);
    expect(f).toContain(fakeId(1));
    expect(f).not.toMatch(/\n\s+at |Error:/);
    f = f.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT').replace(/retrying in \ds/, 'retrying in Ns');
    expect(f).toMatchSnapshot();
    await api.setDown(false);
    await tui.waitFor((x) => x.includes('● live'), 'the recovery', 8000);
  });

  it('API down from the start: waiting, not a stack trace', async () => {
    const api = await startFakeApi(sampleData());
    await api.setDown(true);
    const { tui } = await dashboard({ api, waitLive: false, intervalMs: 100 });
    const f = await tui.waitFor((x) => x.includes('API unreachable'), 'the outage');
    expect(f).toContain('Waiting for the API…');
    expectFits(tui);
  });

  it('a wrong token: the header says so and keeps retrying', async () => {
    const { tui, api } = await dashboard({ token: 'not-the-token', waitLive: false, intervalMs: 100 });
    const f = await tui.waitFor((x) => x.includes('wrong token'), 'the refusal');
    const [title, why] = f.replace(/127\.0\.0\.1:\d+/, 'HOST').split('\n');
    expect(title).toMatch(/^raibid · ci\.example\.lan {2}✗ wrong token · retrying in \ds$/);
    expect(why).toMatch(/^the API at HOST refused the token \(401\): check RAIBID_TOKEN/);
    await new Promise((r) => setTimeout(r, 400));
    expect(api.requests.filter((r) => r.path.startsWith('/api/v1/jobs')).length).toBeGreaterThan(1);
    expect(f.replace(/127\.0\.0\.1:\d+/, 'HOST').replace(/retrying in \ds/, 'retrying in Ns')).toMatchSnapshot();
  });

  it('a read-only token reads everything; cancel says it needs the admin token', async () => {
    const { tui } = await dashboard({ token: FAKE_READ });
    await tui.press('c', 'y');
    await tui.waitFor((x) => x.includes('this token may only read (403): cancelling a job needs the admin token'), 'the refusal');
  });

  it('the empty state: no jobs, no agents, no pools', async () => {
    const { tui } = await dashboard({ data: { jobs: [], pools: [], agents: [] } });
    let f = tui.frame();
    expect(f).toContain('No jobs yet. Push to a repository with the webhook, or press n to run one.');
    expect(f).toMatchSnapshot();
    await tui.press(KEYS.enter, 'j', 'c');
    expect(tui.frame()).toContain('no job selected');
    await tui.press('R');
    expect(tui.frame()).toContain('no job selected');
    await tui.press(KEYS.tab);
    f = tui.frame();
    expect(f).toContain('No agents with a live heartbeat.');
    await tui.press(KEYS.tab);
    expect(tui.frame()).toContain('No pools yet.');
    expectFits(tui);
  });

  it('1,000 jobs: loads 200 at a time as the selection reaches the end, at both sizes', async () => {
    const statuses = ['success', 'failure', 'running', 'queued', 'cancelled'] as const;
    const jobs = Array.from({ length: 1000 }, (_, i) => fakeJob(i + 1, { status: statuses[i % 5], startedAt: T0 - 3_600_000, finishedAt: i % 5 < 2 || i % 5 === 4 ? T0 - 3_000_000 : undefined, agent: `agent-rust-${i % 7}`, repo: `acme/repo-${i % 13}` }));
    const { tui, api } = await dashboard({ data: { jobs, pools: sampleData().pools, agents: [] } });
    expect(lineWith(tui.frame(), ' Jobs ')).toMatch(/1–17 of 200\+$/);
    expectFits(tui);
    expect(tui.frame()).toMatchSnapshot();
    for (let loaded = 400; loaded <= 1000; loaded += 200) {
      const started = Date.now();
      await tui.press('G');
      await tui.waitFor((x) => lineWith(x, ' Jobs ').includes(`of ${loaded}${loaded < 1000 ? '+' : ''}`), `${loaded} jobs loaded`);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    await tui.press('G');
    expect(selectedId(tui)).toBe(fakeId(1000));
    expect(lineWith(tui.frame(), ' Jobs ')).toMatch(/984–1000 of 1000$/);
    expect(api.requests.filter((r) => r.path.startsWith('/api/v1/jobs?')).every((r) => /limit=200\b/.test(r.path))).toBe(true);
    await tui.resize(120, 40);
    await tui.waitFor((x) => x.includes('CREATED'), 'the wide layout');
    expectFits(tui);
    expect(selectedId(tui)).toBe(fakeId(1000));
  });
});
