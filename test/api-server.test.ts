/**
 * The API server (`raibid api`) against a real Redis set up from the synthesized config and ACL, and the
 * Gitea API stand-in that validates every request against Gitea's swagger (support/gitea-standin.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, REDIS_BINARY, SKIP_REASON, type TestRedis } from './support/redis.js';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { ADMIN_TOKEN, BOT_TOKEN, READ_TOKEN, WEBHOOK_SECRET, startApi, synthesizedApiSettings, type ApiHarness } from './support/api-harness.js';
import { pullRequestPayload, ZERO_SHA } from './support/gitea-webhooks.js';
import { deadLetterKey, CANCEL_CHANNEL } from '../src/jobs/keys.js';
import { BODY_LIMIT } from '../src/api/server/app.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TWO_POOLS = 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: docs\n      mode: pooled\n      slots: 2\n';

describe.skipIf(!REDIS_BINARY).sequential(`API server against a real ${REDIS_BINARY ?? 'Redis'} and the Gitea API stand-in${REDIS_BINARY ? '' : ` — ${SKIP_REASON}`}`, () => {
  let redis: TestRedis;
  let api: ApiHarness;
  let repo: { sha: string };
  const streamLen = (s = 'ci-jobs') => api.store.redis.xlen(s);
  const jobCount = async () => (await api.call('GET', '/api/v1/jobs?limit=200')).body.jobs.length as number;

  beforeAll(async () => {
    redis = await startRedis(TWO_POOLS);
    api = await startApi(redis, { yaml: TWO_POOLS });
    repo = await api.gitea.addRepo('acme', 'widget', { files: { 'README.md': 'hello\n' } });
  });
  afterAll(async () => {
    await api?.close();
    await redis?.stop();
  });

  describe('webhooks', () => {
    it('queues a signed push, records the job and posts a pending status that Gitea accepts', async () => {
      const before = await streamLen();
      const r = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha, { message: 'Add things\n\nbody' }));
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ queued: true, pool: 'rust' });
      expect(r.body.url).toBe(`http://ci.test.invalid:8080/api/v1/jobs/${r.body.id}/logs`);
      expect(await streamLen()).toBe(before + 1);
      const job = (await api.call('GET', `/api/v1/jobs/${r.body.id}`)).body;
      expect(job).toMatchObject({ id: r.body.id, repo: 'acme/widget', event: 'push', ref: 'refs/heads/main', sha: repo.sha, pool: 'rust', status: 'queued', attempt: 1, title: 'Add things', actor: 'alice' });
      await sleep(200);
      const status = api.gitea.statuses.find((s) => s.sha === repo.sha && s.state === 'pending');
      expect(status).toMatchObject({ context: 'raibid-ci/rust', targetUrl: r.body.url, creator: 'raibid-bot' });
    });

    it('refuses a bad or missing signature with 401 and stores nothing', async () => {
      const [len, jobs] = [await streamLen(), await jobCount()];
      const wrong = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha), { secret: 'not-the-secret-at-all-0000' });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({ error: 'bad-signature', message: expect.stringContaining('X-Gitea-Signature') });
      const none = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha), { headers: { 'x-gitea-signature': '' } });
      expect(none.status).toBe(401);
      const tampered = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha), { body: JSON.stringify(api.push({ owner: 'acme', name: 'widget' }, repo.sha)) + ' ' });
      expect(tampered.status).toBe(401);
      expect([await streamLen(), await jobCount()]).toEqual([len, jobs]);
    });

    it('never queues a redelivery of the same X-Gitea-Delivery twice', async () => {
      const payload = api.push({ owner: 'acme', name: 'widget' }, repo.sha);
      const first = await api.deliver('push', payload, { delivery: 'e3b0c442-98fc-1c14-9afb-4c8996fb9242' });
      const len = await streamLen();
      const again = await api.deliver('push', payload, { delivery: 'e3b0c442-98fc-1c14-9afb-4c8996fb9242' });
      expect(first.status).toBe(202);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ queued: false, duplicate: true, id: first.body.id });
      expect(await streamLen()).toBe(len);
    });

    it('answers oversized, malformed, unknown and incomplete deliveries with a clear 4xx and stores nothing', async () => {
      const [len, jobs] = [await streamLen(), await jobCount()];
      const huge = JSON.stringify({ ...api.push({ owner: 'acme', name: 'widget' }, repo.sha), padding: 'x'.repeat(BODY_LIMIT) });
      const tooBig = await api.deliver('push', {}, { body: huge });
      expect(tooBig.status).toBe(413);
      expect(tooBig.body.error).toBe('too-large');

      const { createHmac } = await import('node:crypto');
      const sign = (body: string) => createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex');
      const malformed = '{"ref": "refs/heads/main",';
      const bad = await api.deliver('push', {}, { body: malformed, headers: { 'x-gitea-signature': sign(malformed) } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ error: 'malformed-json', message: 'the body is not valid JSON' });

      const unknown = await api.deliver('issues' as never, { action: 'opened' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toContain('"issues" is not handled');

      const missing = await api.deliver('push', { ref: 'refs/heads/main', after: 'nope', repository: {} });
      expect(missing.status).toBe(400);
      expect(missing.body.error).toBe('invalid-payload');
      expect(missing.body.message).toMatch(/after: expected a commit SHA.*repository\.full_name/);

      const noDelivery = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha), { headers: { 'x-gitea-delivery': '' } });
      expect(noDelivery.status).toBe(400);
      expect([await streamLen(), await jobCount()]).toEqual([len, jobs]);
    });

    it('says why nothing was queued: deleted branch, tag push, [skip ci], an owner not allowed', async () => {
      const len = await streamLen();
      const deleted = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, ZERO_SHA, { ref: 'refs/heads/old' }));
      expect(deleted).toMatchObject({ status: 200, body: { queued: false, reason: 'refs/heads/old was deleted' } });
      const tag = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha, { ref: 'refs/tags/v1.0.0' }));
      expect(tag.body.reason).toContain('jobs.tagPushes');
      const skip = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha, { message: 'docs only [skip ci]' }));
      expect(skip.body.reason).toContain('[skip ci]');
      const skip2 = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, repo.sha, { message: 'Typo [CI SKIP]' }));
      expect(skip2.body.queued).toBe(false);
      expect(await streamLen()).toBe(len);
    });

    it('queues opened, synchronized and reopened pull requests on the pull ref, and ignores closed ones', async () => {
      const pr = (action: 'opened' | 'synchronized' | 'closed') =>
        pullRequestPayload({
          baseUrl: api.gitea.url,
          action,
          number: 7,
          repo: { owner: { login: 'acme' }, name: 'widget' },
          base: { ref: 'main', sha: repo.sha },
          head: { ref: 'feature', sha: repo.sha },
          before: repo.sha,
          after: repo.sha,
          sender: { login: 'bob' },
        } as never);
      const opened = await api.deliver('pull_request', pr('opened'));
      expect(opened.status).toBe(202);
      const job = (await api.call('GET', `/api/v1/jobs/${opened.body.id}`)).body;
      expect(job).toMatchObject({ event: 'pull_request', ref: 'refs/pull/7/head', pr: '7', sha: repo.sha, actor: 'bob' });
      expect((await api.deliver('pull_request', pr('synchronized'))).status).toBe(202);
      const closed = await api.deliver('pull_request', pr('closed'));
      expect(closed.body).toMatchObject({ queued: false, reason: expect.stringContaining('"closed"') });
    });
  });

  describe('the pipeline file', () => {
    it('chooses the pool named in .raibid.yaml at the pushed commit', async () => {
      const sha = await api.gitea.commit('acme', 'widget', { '.raibid.yaml': 'pool: docs\nsteps:\n  - name: build\n    command: make\n' }, 'use docs pool');
      const r = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, sha));
      expect(r.body).toMatchObject({ queued: true, pool: 'docs' });
      expect((await api.call('GET', `/api/v1/jobs/${r.body.id}`)).body).toMatchObject({ pool: 'docs', pipeline: '.raibid.yaml' });
    });

    it('skips branches its filters exclude', async () => {
      const sha = await api.gitea.commit('acme', 'widget', { '.raibid.yaml': 'branches: [main, "release/*"]\n' }, 'filters', 'wip');
      const r = await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, sha, { ref: 'refs/heads/wip' }));
      expect(r.body).toMatchObject({ queued: false, reason: expect.stringContaining('branch wip is not in .raibid.yaml branches') });
    });

    it('ends a job whose pipeline file is invalid in error, naming the key, with an error status', async () => {
      const sha = await api.gitea.commit('acme', 'widget', { '.raibid.yaml': 'steps:\n  - name: x\n    comand: make\n' }, 'typo', 'broken');
      const len = await streamLen();
      const payload = api.push({ owner: 'acme', name: 'widget' }, sha, { ref: 'refs/heads/broken' });
      const r = await api.deliver('push', payload, { delivery: 'broken-pipeline-delivery' });
      expect(r.status).toBe(200);
      // Gitea redelivering it finds the same record, not a second one.
      expect((await api.deliver('push', payload, { delivery: 'broken-pipeline-delivery' })).body.id).toBe(r.body.id);
      expect(r.body.queued).toBe(false);
      expect(r.body.reason).toMatch(/invalid \.raibid\.yaml: \.raibid\.yaml: steps\[0\]/);
      expect(await streamLen()).toBe(len);
      const job = (await api.call('GET', `/api/v1/jobs/${r.body.id}`)).body;
      expect(job.status).toBe('error');
      await sleep(200);
      expect(api.gitea.statuses.find((s) => s.sha === sha)).toMatchObject({ state: 'error', description: expect.stringContaining('invalid .raibid.yaml') });
    });
  });

  describe('REST API', () => {
    it('requires a bearer token, and the read token may only read', async () => {
      expect((await api.call('GET', '/api/v1/jobs', { token: null })).status).toBe(401);
      expect((await api.call('GET', '/api/v1/jobs', { token: 'wrong-token-0000000000000000' })).status).toBe(401);
      expect((await api.call('GET', '/api/v1/jobs', { token: READ_TOKEN })).status).toBe(200);
      const write = await api.call('POST', '/api/v1/jobs', { token: READ_TOKEN, body: { repo: 'acme/widget' } });
      expect(write.status).toBe(403);
      expect(write.body).toEqual({ error: 'forbidden', message: 'this token may only read; use the admin token' });
      for (const open of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await api.call('GET', open, { token: null })).status).toBe(200);
    });

    it('lists jobs newest first with cursor pagination and filters', async () => {
      const sha = await api.gitea.commit('acme', 'widget', { 'page.txt': '1' }, 'paging', 'paging');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', sha } })).body.id);
      const page1 = (await api.call('GET', `/api/v1/jobs?limit=2&repo=acme/widget&status=queued`)).body;
      expect(page1.jobs.map((j: { id: string }) => j.id)).toEqual([ids[4], ids[3]]);
      const page2 = (await api.call('GET', `/api/v1/jobs?limit=2&repo=acme/widget&status=queued&cursor=${page1.next}`)).body;
      expect(page2.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
      const byRef = (await api.call('GET', '/api/v1/jobs?ref=broken')).body.jobs;
      expect(byRef.length).toBe(1);
      expect((await api.call('GET', '/api/v1/jobs?pool=docs')).body.jobs.every((j: { pool: string }) => j.pool === 'docs')).toBe(true);
    });

    it('refuses invalid queries and bodies with a 400 naming the problem', async () => {
      const cases: [string, string, unknown, RegExp][] = [
        ['GET', '/api/v1/jobs?limit=0', undefined, /limit/],
        ['GET', '/api/v1/jobs?status=bogus', undefined, /status/],
        ['GET', '/api/v1/jobs?colour=red', undefined, /additional properties|colour/],
        ['GET', '/api/v1/jobs?cursor=../../etc', undefined, /cursor/],
        ['GET', '/api/v1/jobs/not-an-id', undefined, /id/],
        ['POST', '/api/v1/jobs', { repo: 'acme/widget', branch: 'main' }, /additional properties|branch/],
        ['POST', '/api/v1/jobs', { repo: 'no-slash' }, /repo/],
        ['POST', '/api/v1/jobs', '{"repo":', /JSON/i],
        ['POST', '/api/v1/jobs', { repo: 'acme/widget', ref: 'main', sha: 'a'.repeat(40) }, /ref or sha/],
        ['POST', '/api/v1/jobs', { repo: 'acme/widget', pool: 'gpu' }, /pool "gpu" does not exist/],
      ];
      for (const [method, path, body, message] of cases) {
        const r = await api.call(method, path, { body });
        expect(r.status, `${method} ${path}`).toBe(400);
        expect(r.body.error, `${method} ${path}`).toEqual(expect.any(String));
        expect(r.body.message, `${method} ${path}`).toMatch(message);
      }
    });

    it('triggers manual jobs by ref, and refuses unknown repositories and refs with 404', async () => {
      const r = await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'main' } });
      expect(r.status).toBe(202);
      const job = (await api.call('GET', `/api/v1/jobs/${r.body.id}`)).body;
      expect(job).toMatchObject({ event: 'manual', ref: 'refs/heads/main', actor: 'admin', cloneUrl: expect.stringContaining('/acme/widget.git') });
      expect((await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/nothing' } })).body.error).toBe('unknown-repository');
      const ref = await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'no-such-branch' } });
      expect([ref.status, ref.body.error]).toEqual([404, 'unknown-ref']);
    });

    it('cancels a queued job at once and reports it as failure "cancelled by …"; a second cancel is 409', async () => {
      const sha = await api.gitea.commit('acme', 'widget', { 'c.txt': '1' }, 'cancel me', 'cancel');
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', sha } })).body.id;
      const r = await api.call('POST', `/api/v1/jobs/${id}/cancel`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'cancelled', reason: 'cancelled by admin' });
      await sleep(100);
      expect(api.gitea.statuses.filter((s) => s.sha === sha).at(-1)).toMatchObject({ state: 'failure', description: 'cancelled by admin' });
      expect((await api.call('POST', `/api/v1/jobs/${id}/cancel`)).status).toBe(409);
      expect((await api.call('POST', `/api/v1/jobs/000000000000000/cancel`)).status).toBe(404);
    });

    it('publishes a cancel of a running job for its agent', async () => {
      const sub = new Redis(redis.url, { username: redis.agent.username, password: redis.agent.password, enableReadyCheck: false });
      const got: string[] = [];
      await sub.subscribe(CANCEL_CHANNEL);
      sub.on('message', (_c, m) => got.push(m));
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'main', pool: 'docs' } })).body.id;
      await api.store.start(id, 'agent-x', (await api.store.get(id))!.entry!);
      const r = await api.call('POST', `/api/v1/jobs/${id}/cancel`);
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ status: 'running', cancelRequested: 'admin' });
      for (let i = 0; i < 50 && got.length === 0; i++) await sleep(20);
      expect(got).toEqual([id]);
      sub.disconnect();
    });

    it('retries an ended job as a new job, and refuses to retry one still queued', async () => {
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'main' } })).body.id;
      expect((await api.call('POST', `/api/v1/jobs/${id}/retry`)).status).toBe(409);
      await api.call('POST', `/api/v1/jobs/${id}/cancel`);
      const r = await api.call('POST', `/api/v1/jobs/${id}/retry`);
      expect(r.status).toBe(202);
      expect((await api.call('GET', `/api/v1/jobs/${r.body.id}`)).body).toMatchObject({ event: 'retry', retryOf: id, status: 'queued' });
    });

    it('supersedes a branch\'s queued job with a newer push', async () => {
      const a = await api.gitea.commit('acme', 'widget', { 's.txt': '1' }, 'one', 'supersede');
      const b = await api.gitea.commit('acme', 'widget', { 's.txt': '2' }, 'two', 'supersede');
      const first = (await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, a, { ref: 'refs/heads/supersede' }))).body.id;
      const second = (await api.deliver('push', api.push({ owner: 'acme', name: 'widget' }, b, { ref: 'refs/heads/supersede' }))).body.id;
      await sleep(200);
      expect((await api.call('GET', `/api/v1/jobs/${first}`)).body).toMatchObject({ status: 'cancelled', reason: expect.stringContaining(`superseded by job ${second}`) });
      expect((await api.call('GET', `/api/v1/jobs/${second}`)).body.status).toBe('queued');
    });
  });

  describe('logs', () => {
    it('serves the whole log as text, and follows it live as Server-Sent Events that resume from Last-Event-ID', async () => {
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'main' } })).body.id;
      await api.store.appendLog(id, [{ kind: 'step', step: 'test', time: 1_700_000_000_000, text: '$ cargo test' }, { kind: 'out', step: 'test', time: 1_700_000_000_001, text: 'line 1\nline 2' }]);
      const text = await api.call('GET', `/api/v1/jobs/${id}/logs`);
      expect(text.headers.get('content-type')).toContain('text/plain');
      expect(text.text).toBe('2023-11-14T22:13:20.000Z ==> test: $ cargo test\n2023-11-14T22:13:20.001Z [test] line 1\n2023-11-14T22:13:20.001Z [test] line 2\n');

      const controller = new AbortController();
      const res = await fetch(`${api.url}/api/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'text/event-stream' }, signal: controller.signal });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      let seen = '';
      const readUntil = async (pattern: RegExp) => {
        while (!pattern.test(seen)) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += Buffer.from(value).toString('utf8');
        }
      };
      await readUntil(/line 2/);
      await api.store.appendLog(id, [{ kind: 'out', step: 'test', time: Date.now(), text: 'live line' }]);
      await readUntil(/live line/);
      const ids = [...seen.matchAll(/^id: (.+)$/gm)].map((m) => m[1]);
      expect(ids).toHaveLength(3);
      await api.store.transition(id, 'cancelled', { reason: 'done with the test' });
      await readUntil(/event: end/);
      const { done } = await reader.read();
      expect(done).toBe(true);

      const resumed = await fetch(`${api.url}/api/v1/jobs/${id}/logs?follow=true`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': ids[1] } });
      const body = await resumed.text();
      expect(body).not.toContain('line 1');
      expect(body).toContain('live line');
      expect(body).toContain('event: end');
    });

    it('answers 404 for the log of an unknown job', async () => {
      expect((await api.call('GET', '/api/v1/jobs/zzzzzzzzzzzzzzz/logs')).status).toBe(404);
    });
  });

  describe('pools, agents, health and the OpenAPI document', () => {
    it('reports each pool\'s lag, pending, running and dead letters, and live agents', async () => {
      await api.store.heartbeat({ name: 'agent-docs-1', pool: 'docs', mode: 'pooled', slots: 2, busy: 1, jobs: ['x'], state: 'busy', startedAt: Date.now(), lastSeen: Date.now() });
      const pools = (await api.call('GET', '/api/v1/pools')).body.pools;
      expect(pools.map((p: { name: string }) => p.name)).toEqual(['rust', 'docs']);
      const rust = pools[0];
      expect(rust).toMatchObject({ mode: 'ephemeral', stream: 'ci-jobs', lag: expect.any(Number), pending: expect.any(Number), dead: 0 });
      expect(rust.lag).toBeGreaterThan(0);
      expect(pools[1]).toMatchObject({ running: 1, agents: 1 });
      const agents = (await api.call('GET', '/api/v1/agents')).body.agents;
      expect(agents).toEqual([expect.objectContaining({ name: 'agent-docs-1', pool: 'docs', slots: 2, busy: 1, free: 1, state: 'busy' })]);
    });

    it('GET /api/v1/cluster: the cluster name, this node\'s CPU and memory in use against allocatable, agents against the capacity plan', async () => {
      await api.store.heartbeat({ name: 'agent-docs-2', pool: 'docs', mode: 'pooled', slots: 2, busy: 0, jobs: [], state: 'idle', startedAt: Date.now(), lastSeen: Date.now() });
      const before = (await api.call('GET', '/api/v1/cluster', { token: READ_TOKEN })).body;
      await new Promise((r) => setTimeout(r, 1100));
      const c = (await api.call('GET', '/api/v1/cluster', { token: READ_TOKEN })).body;
      const settings = synthesizedApiSettings(TWO_POOLS) as { cluster: { name: string; reservedCpuMillis: number; reservedMemoryBytes: number }; pools: { name: string; planned: number }[] };
      expect(c.name).toBe(settings.cluster.name);
      // The API reads the node it runs on (its /proc): here, this machine.
      expect(c.node.cpu.capacityMillis).toBe(cpus().length * 1000);
      expect(c.node.cpu.allocatableMillis).toBe(Math.max(0, cpus().length * 1000 - settings.cluster.reservedCpuMillis));
      expect(c.node.memory.capacityBytes).toBe(totalmem());
      expect(c.node.memory.allocatableBytes).toBe(Math.max(0, totalmem() - settings.cluster.reservedMemoryBytes));
      expect(c.node.memory.usedBytes).toBeGreaterThan(0);
      // CPU in use needs two samples a second apart: the server took one at start, so both answers have it.
      for (const x of [before, c]) expect(x.node.cpu.usedMillis).toEqual(expect.any(Number));
      expect(c.node.cpu.usedMillis).toBeLessThanOrEqual(c.node.cpu.capacityMillis);
      // Planned agents are the capacity plan's pool sizes, as synthesized into the settings file.
      const planned = Object.fromEntries(settings.pools.map((p) => [p.name, p.planned]));
      expect(c.pools).toEqual([
        { name: 'rust', mode: 'ephemeral', agents: 0, planned: planned.rust },
        { name: 'docs', mode: 'pooled', agents: 2, planned: planned.docs },
      ]);
      expect(c.agents).toEqual({ running: 2, planned: planned.rust + planned.docs });
      expect((await api.call('GET', '/api/v1/pools')).body.pools.map((p: { planned: number }) => p.planned)).toEqual([planned.rust, planned.docs]);
      expect((await api.call('GET', '/api/v1/cluster', { token: null })).status).toBe(401);
    });

    it('documents every route in /openapi.json', async () => {
      const doc = (await api.call('GET', '/openapi.json', { token: null })).body;
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths).sort()).toEqual(['/api/v1/agents', '/api/v1/cluster', '/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/jobs/{id}/cancel', '/api/v1/jobs/{id}/logs', '/api/v1/jobs/{id}/retry', '/api/v1/mirrors', '/api/v1/pools', '/api/v1/webhooks/gitea', '/api/v1/webhooks/github']);
      expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      // README names every route with its method, and no route the API does not have.
      const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
      const served = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
      for (const route of served) expect(readme, route).toContain(`\`${route}\``);
      const documented = [...readme.matchAll(/`((?:GET|POST|PUT|PATCH|DELETE) \/api\/v1\/[^`\s?]*)/g)].map((m) => m[1]);
      expect(documented.length).toBeGreaterThan(10);
      for (const route of documented) expect(served, route).toContain(route);
    });

    it('exposes Prometheus metrics for jobs, queues, webhooks and agents', async () => {
      const text = (await api.call('GET', '/metrics', { token: null })).text;
      expect(text).toMatch(/raibid_jobs_total\{pool="rust",status="queued"\} \d+/);
      expect(text).toMatch(/raibid_webhooks_total\{event="push",result="queued"\} \d+/);
      expect(text).toMatch(/raibid_webhooks_total\{event="push",result="unauthorized"\} \d+/);
      expect(text).toMatch(/raibid_queue_lag\{pool="rust"\} \d+/);
      expect(text).toMatch(/raibid_queue_dead\{pool="rust"\} 0/);
      expect(text).toMatch(/raibid_agents\{pool="docs",state="busy"\} 1/);
      expect(text).toContain('raibid_job_duration_seconds');
    });

    it('never writes a secret into its log or a response', async () => {
      const all = api.logs.join('\n');
      for (const secret of [WEBHOOK_SECRET, ADMIN_TOKEN, READ_TOKEN, BOT_TOKEN, redis.api.password]) expect(all).not.toContain(secret);
      expect(all).toContain('"url":"/api/v1/jobs');
    });
  });

  describe('the reaper', () => {
    it('re-queues the entry of an agent that stopped heartbeating, then dead-letters it after maxAttempts', async () => {
      const agent = new Redis(redis.url, { username: redis.agent.username, password: redis.agent.password, enableReadyCheck: false });
      // Earlier tests left jobs on ci-docs: an agent takes and finishes them first.
      for (;;) {
        const old = (await agent.xreadgroup('GROUP', 'ci-workers', 'sweeper', 'COUNT', 100, 'STREAMS', 'ci-docs', '>')) as [string, [string, string[]][]][] | null;
        if (!old) break;
        for (const [entry] of old[0][1]) await api.store.ack('ci-docs', 'ci-workers', entry);
      }
      const sha = await api.gitea.commit('acme', 'widget', { 'r.txt': '1' }, 'reap me', 'reap');
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', sha, pool: 'docs' } })).body.id;
      const takeAndDie = async (name: string) => {
        // An agent takes the entry, starts the job, and dies: no heartbeat, no acknowledgement.
        const res = (await agent.xreadgroup('GROUP', 'ci-workers', name, 'COUNT', 1, 'STREAMS', 'ci-docs', '>')) as [string, [string, string[]][]][];
        const [entry] = res[0][1][0];
        expect(await api.store.start(id, name, entry)).toBe('run');
        await sleep(300);
        return entry;
      };
      const first = await takeAndDie('agent-docs-a');
      expect(await api.reaper.pass()).toBe(1);
      let job = (await api.call('GET', `/api/v1/jobs/${id}`)).body;
      expect(job).toMatchObject({ status: 'queued', attempt: 2, reason: 'agent agent-docs-a stopped sending heartbeats' });
      expect(await api.store.redis.xrange('ci-docs', first, first)).toEqual([]);
      await sleep(100);
      expect(api.gitea.statuses.filter((s) => s.sha === sha).at(-1)).toMatchObject({ state: 'pending', description: expect.stringContaining('attempt 2') });

      await takeAndDie('agent-docs-b');
      await api.reaper.pass();
      await takeAndDie('agent-docs-c');
      await api.reaper.pass();
      job = (await api.call('GET', `/api/v1/jobs/${id}`)).body;
      expect(job).toMatchObject({ status: 'dead', attempt: 3 });
      const dead = (await api.store.redis.xrange(deadLetterKey('ci-docs'), '-', '+')) as [string, string[]][];
      expect(dead.map(([, f]) => f[1])).toContain(id);
      await sleep(100);
      expect(api.gitea.statuses.filter((s) => s.sha === sha).at(-1)).toMatchObject({ state: 'error', description: expect.stringContaining('gave up after 3 attempts') });
      const pending = (await api.store.redis.xpending('ci-docs', 'ci-workers')) as [number];
      expect(pending[0]).toBe(0);
      agent.disconnect();
    });

    it('reaps with one leader at a time across API replicas', async () => {
      const { Reaper } = await import('../src/api/server/reaper.js');
      const other = new Reaper(api.store, api.settings, api.service, (await import('../src/api/server/metrics.js')).createMetrics(api.store, api.settings), api.app.log);
      await api.reaper.pass();
      expect(await api.store.lease(other.holder, 10_000)).toBe(false);
      expect(await other.pass()).toBe(0);
      expect(await api.store.lease(api.reaper.holder, 10_000)).toBe(true);
    });

    it('leaves an entry alone while its agent heartbeats', async () => {
      const id = (await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', ref: 'main', pool: 'docs' } })).body.id;
      const agent = new Redis(redis.url, { username: redis.agent.username, password: redis.agent.password, enableReadyCheck: false });
      const res = (await agent.xreadgroup('GROUP', 'ci-workers', 'agent-alive', 'COUNT', 1, 'STREAMS', 'ci-docs', '>')) as [string, [string, string[]][]][];
      await api.store.start(id, 'agent-alive', res[0][1][0][0]);
      await api.store.heartbeat({ name: 'agent-alive', pool: 'docs', mode: 'pooled', slots: 2, busy: 1, jobs: [id], state: 'busy', startedAt: Date.now(), lastSeen: Date.now() });
      await sleep(300);
      expect(await api.reaper.pass()).toBe(0);
      expect((await api.call('GET', `/api/v1/jobs/${id}`)).body.status).toBe('running');
      agent.disconnect();
    });
  });
});
