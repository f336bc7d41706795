/**
 * A 2xx to Gitea means the job survives a Redis crash right after it: the API waits for WAITAOF (the
 * AOF on disk) before answering, answers 503 when Redis cannot confirm in time, and refuses to start
 * against a Redis that cannot confirm at all. Real servers: valkey-server (WAITAOF) and Debian's
 * redis-server 7.0 (no WAITAOF), each set up from the synthesized config and ACL.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { HAS_WAITAOF, startRedis, type TestRedis } from './support/redis.js';
import { ADMIN_TOKEN, BOT_TOKEN, WEBHOOK_SECRET, startApi, synthesizedApiSettings, type ApiHarness } from './support/api-harness.js';
import { runApi } from '../src/api/server/main.js';
import { jobKey } from '../src/jobs/keys.js';

const HAS_REDIS7 = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!HAS_WAITAOF).sequential('durable acknowledgement against a real valkey-server (WAITAOF)', () => {
  let redis: TestRedis;
  let api: ApiHarness;
  let sha: string;

  beforeAll(async () => {
    redis = await startRedis();
    api = await startApi(redis);
    sha = (await api.gitea.addRepo('acme', 'durable', { files: { 'README.md': 'x\n' } })).sha;
  });
  afterAll(async () => {
    await api?.close();
    await redis?.stop();
  });

  it('loses no acknowledged job when Redis is killed with SIGKILL right after a burst of 2xx', async () => {
    const accepted: string[] = [];
    let next = 0;
    const total = 96;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const r = await api.deliver('push', api.push({ owner: 'acme', name: 'durable' }, sha, { ref: `refs/heads/b${i}` }));
        if (r.status === 202) accepted.push(r.body.id);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    // No pause: the server dies the moment the last answer is in.
    await redis.kill('SIGKILL');
    expect(accepted.length).toBe(total);
    await redis.restart();
    const check = api.store.redis;
    for (let i = 0; i < 100 && check.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
    const missing: string[] = [];
    for (const id of accepted) if ((await check.exists(jobKey(id))) !== 1) missing.push(id);
    expect(missing).toEqual([]);
    const entries = (await check.xrange('ci-jobs', '-', '+')) as [string, string[]][];
    const queued = new Set(entries.map(([, f]) => f[1]));
    expect(accepted.filter((id) => !queued.has(id))).toEqual([]);
  }, 120_000);

  it('answers 503 when Redis does not confirm the write in time, and the redelivery then finds the job', async () => {
    const durable = api.store.durable.bind(api.store);
    api.store.durable = async () => false;
    const payload = api.push({ owner: 'acme', name: 'durable' }, sha, { ref: 'refs/heads/slow-disk' });
    const first = await api.deliver('push', payload, { delivery: 'slow-disk-delivery-1' });
    expect(first.status).toBe(503);
    expect(first.body).toEqual({ error: 'not-durable', message: expect.stringContaining('deliver again') });
    api.store.durable = durable;
    const again = await api.deliver('push', payload, { delivery: 'slow-disk-delivery-1' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ queued: false, duplicate: true });
    expect((await api.call('GET', `/api/v1/jobs/${again.body.id}`)).body.status).toBe('queued');
  });
});

describe.skipIf(!HAS_REDIS7)('raibid api refuses a Redis that cannot confirm writes on disk (Debian redis-server 7.0: no WAITAOF)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis('', 'redis-server');
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('exits 2 with a message that names WAITAOF and the way out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raibid-api-'));
    writeFileSync(join(dir, 'config.yaml'), stringify({ ...synthesizedApiSettings(), listen: '127.0.0.1:0' }));
    const errors: string[] = [];
    const code = await runApi({
      env: { RAIBID_API_CONFIG: join(dir, 'config.yaml'), REDIS_URL: redis.url, REDIS_USERNAME: redis.api.username, REDIS_PASSWORD: redis.api.password, GITEA_URL: 'http://127.0.0.1:9', GITEA_TOKEN: BOT_TOKEN, WEBHOOK_SECRET, RAIBID_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'silent' },
      err: (l) => errors.push(l),
    });
    expect(code).toBe(2);
    expect(errors.join('\n')).toMatch(/cannot confirm writes on disk \(WAITAOF: .*\)\. It needs Redis 7\.2 or newer/);
    expect(errors.join('\n')).toContain('durability: none');
    expect(errors.join('\n')).not.toContain(redis.api.password);
  });
});
