/**
 * The API's part of mirroring (src/api/server/mirrors.ts) against a real Redis, the Gitea API stand-in and
 * the GitHub REST API stand-in: the mirrors are created by a real `raibid mirror sync` run first, then a
 * signed GitHub push webhook asks Gitea to sync exactly that mirror, GET /api/v1/mirrors reports their
 * state, and pushes to a mirror whose CI is off queue nothing.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiSettings } from '../src/api/contract.js';
import { mirrorCommand } from '../src/mirror/cli.js';
import { MIRROR_ENV, mirrorStateKey } from '../src/mirror/contract.js';
import { findObject, objectsUnder } from './helpers.js';
import { BOT_TOKEN, BOT_USER, GITHUB_WEBHOOK_SECRET, READ_TOKEN, startApi, synthesizedApiSettings, type ApiHarness } from './support/api-harness.js';
import { startGitHubStandIn, type GitHubStandIn } from './support/github-standin.js';
import { startGiteaStandIn, type GiteaStandIn } from './support/gitea-standin.js';
import { REDIS_BINARY, SKIP_REASON, startRedis, type TestRedis } from './support/redis.js';

const YAML = [
  'mirrors:',
  '  sources:',
  '    - from: github.com/rust-lang/book',
  '    - from: github.com/rust-lang/cargo',
  '      ci: true',
  '    - from: github.com/tokio-rs',
  '      owner: tokio',
  '    - from: github.com/rust-lang/never-created',
  '',
].join('\n');

/** git, asynchronously: the stand-ins serve from this very process. */
function gitHead(dir: string): Promise<string> {
  return new Promise((resolve, reject) => execFile('git', ['--git-dir', dir, 'rev-parse', 'refs/heads/main'], (err, out) => (err ? reject(err) : resolve(out.trim()))));
}

describe.skipIf(!REDIS_BINARY)(`API mirror routes against a real ${REDIS_BINARY ?? 'Redis'}, the Gitea API stand-in and the GitHub REST API stand-in${REDIS_BINARY ? '' : ` — ${SKIP_REASON}`}`, () => {
  let redis: TestRedis;
  let github: GitHubStandIn;
  let gitea: GiteaStandIn;
  let api: ApiHarness;
  let dir: string;

  /** A GitHub delivery as GitHub sends it: JSON body, X-Hub-Signature-256 over its bytes. */
  async function deliver(event: string, payload: object, o: { secret?: string | null; form?: boolean } = {}) {
    const json = JSON.stringify(payload);
    const body = o.form ? `payload=${encodeURIComponent(json)}` : json;
    const secret = o.secret === undefined ? GITHUB_WEBHOOK_SECRET : o.secret;
    const headers: Record<string, string> = {
      'content-type': o.form ? 'application/x-www-form-urlencoded' : 'application/json',
      'x-github-event': event,
      'x-github-delivery': randomUUID(),
      'user-agent': 'GitHub-Hookshot/standin',
      ...(secret !== null ? { 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } : {}),
    };
    const res = await fetch(`${api.url}/api/v1/webhooks/github`, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }
  const pushPayload = (full: string, after: string, o: { fork?: boolean } = {}) => ({
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after,
    repository: { id: 1, name: full.split('/')[1], full_name: full, private: false, fork: o.fork ?? false, archived: false, clone_url: `${github.webUrl}/${full}.git` },
    pusher: { name: 'octo', email: 'octo@example.invalid' },
    sender: { login: 'octo', id: 1 },
  });

  beforeAll(async () => {
    redis = await startRedis(YAML);
    github = await startGitHubStandIn();
    gitea = await startGiteaStandIn({ tokens: { [BOT_TOKEN]: BOT_USER }, allowLocalNetworks: true });
    github.addOwner('rust-lang', 'Organization');
    github.addOwner('tokio-rs', 'Organization');
    await github.addRepo('rust-lang', 'book');
    await github.addRepo('rust-lang', 'cargo');
    await github.addRepo('tokio-rs', 'tokio');
    await github.addRepo('tokio-rs', 'tokio-fork', { fork: true });
    const hosts = { githubApiUrl: github.apiUrl, githubUrl: github.webUrl };

    // The mirrors, as the CronJob makes them: the synthesized settings, GitHub pointed at the stand-in.
    dir = mkdtempSync(join(tmpdir(), 'raibid-mirror-api-'));
    const settingsFile = join(dir, 'mirrors.yaml');
    writeFileSync(settingsFile, stringify({ ...(parse(findObject(objectsUnder('apps/mirror/', YAML), 'ConfigMap', 'raibid-mirror').data['mirrors.yaml']) as object), ...hosts }));
    const out: string[] = [];
    await mirrorCommand('mirror', ['sync'], { out: (l) => out.push(l), err: () => undefined, env: { [MIRROR_ENV.settings]: settingsFile, [MIRROR_ENV.giteaUrl]: gitea.url, [MIRROR_ENV.giteaToken]: BOT_TOKEN } });
    expect(out.filter((l) => l.startsWith('created   ')).map((l) => l.split(/\s+/)[1])).toEqual(['organisation', 'organisation', 'mirrors/book', 'mirrors/cargo', 'tokio/tokio']);

    const mirrors = { ...(synthesizedApiSettings(YAML).mirrors as object), ...hosts } as unknown as ApiSettings['mirrors'];
    api = await startApi(redis, { yaml: YAML, gitea, settings: { mirrors } });
  });
  afterAll(async () => {
    await api?.close();
    await gitea?.close();
    await github?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a signed GitHub push makes Gitea sync exactly that mirror, which then has the new commit', async () => {
    const sha = await github.push('rust-lang', 'book', { 'CHANGES.md': 'more\n' }, 'Add changes');
    const mark = gitea.mirrorSyncs.length;
    const r = await deliver('push', pushPayload('rust-lang/book', sha));
    expect(r).toEqual({ status: 202, body: { synced: true, mirror: 'mirrors/book' } });
    expect(gitea.mirrorSyncs.slice(mark).map((s) => `${s.owner}/${s.repo}`)).toEqual(['mirrors/book']);
    await gitea.settled();
    expect(await gitHead(gitea.repoDir('mirrors', 'book'))).toBe(sha);
    expect(await api.store.redis.hget(mirrorStateKey('mirrors/book'), 'lastWebhookAt')).toMatch(/^\d+$/);
  });

  it('takes a form-encoded delivery (payload=…) as well', async () => {
    const mark = gitea.mirrorSyncs.length;
    expect(await deliver('push', pushPayload('tokio-rs/tokio', 'a'.repeat(40)), { form: true })).toEqual({ status: 202, body: { synced: true, mirror: 'tokio/tokio' } });
    expect(gitea.mirrorSyncs.slice(mark).map((s) => `${s.owner}/${s.repo}`)).toEqual(['tokio/tokio']);
  });

  it('refuses a bad or missing signature with 401 and asks Gitea for nothing', async () => {
    const mark = gitea.mirrorSyncs.length;
    const wrong = await deliver('push', pushPayload('rust-lang/book', 'b'.repeat(40)), { secret: 'not-the-secret-at-all' });
    expect(wrong).toEqual({ status: 401, body: { error: 'bad-signature', message: expect.stringContaining('X-Hub-Signature-256') } });
    expect((await deliver('push', pushPayload('rust-lang/book', 'b'.repeat(40)), { secret: null })).status).toBe(401);
    expect(gitea.mirrorSyncs.length).toBe(mark);
  });

  it('answers ping, other events, unknown repositories and filtered ones with a 200 and the reason', async () => {
    const mark = gitea.mirrorSyncs.length;
    expect(await deliver('ping', { zen: 'Keep it logically awesome.', hook_id: 1 })).toMatchObject({ status: 200, body: { synced: false, reason: expect.stringMatching(/^pong/) } });
    expect(await deliver('issues', { action: 'opened' })).toMatchObject({ status: 200, body: { synced: false, reason: expect.stringContaining('mirrors sync on push') } });
    expect(await deliver('push', pushPayload('someone/else', 'c'.repeat(40)))).toEqual({ status: 200, body: { synced: false, reason: 'github.com/someone/else is not mirrored: no entry of mirrors.sources covers it' } });
    expect(await deliver('push', pushPayload('tokio-rs/tokio-fork', 'c'.repeat(40), { fork: true }))).toMatchObject({ status: 200, body: { synced: false, reason: 'github.com/tokio-rs/tokio-fork is not mirrored: a fork (skipForks) (mirrors.sources[2])' } });
    expect(await deliver('push', pushPayload('rust-lang/never-created', 'c'.repeat(40)))).toMatchObject({ status: 200, body: { synced: false, mirror: 'mirrors/never-created', reason: expect.stringContaining('not in Gitea yet') } });
    expect(gitea.mirrorSyncs.length).toBe(mark); // never-created: Gitea answered 404 before syncing anything
    expect((await deliver('push', { repository: { name: 'x' } })).status).toBe(400);
  });

  it('GET /api/v1/mirrors: last and next sync from Gitea, the webhook record from Redis, configured-but-missing mirrors, stale', async () => {
    expect((await api.call('GET', '/api/v1/mirrors', { token: null })).status).toBe(401);
    const r = await api.call('GET', '/api/v1/mirrors', { token: READ_TOKEN });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ schedule: '17 4 * * *', staleAfterSeconds: 86_400 });
    const byName = Object.fromEntries((r.body.mirrors as Record<string, any>[]).map((m) => [m.mirror, m]));
    expect(Object.keys(byName)).toEqual(['mirrors/book', 'mirrors/cargo', 'mirrors/never-created', 'tokio/tokio']);
    expect(byName['mirrors/book']).toMatchObject({ source: 'github.com/rust-lang/book', sourceKey: 'mirrors.sources[0]', ci: false, interval: '1h0m0s', exists: true, stale: false, lastError: null });
    expect(Date.parse(byName['mirrors/book'].nextSync) - Date.parse(byName['mirrors/book'].lastSync)).toBe(3600_000);
    expect(byName['mirrors/book'].lastWebhookAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(byName['mirrors/cargo']).toMatchObject({ ci: true, exists: true });
    expect(byName['tokio/tokio']).toMatchObject({ source: 'github.com/tokio-rs/tokio', sourceKey: 'mirrors.sources[2]' });
    expect(byName['mirrors/never-created']).toMatchObject({ exists: false, stale: true, lastSync: null, nextSync: null, lastError: 'a push arrived, but the mirror is not in Gitea yet' });
  });

  it('a Gitea push from a mirror whose CI is off queues nothing and says why; CI on queues; a manual run is refused', async () => {
    const sha = await gitHead(gitea.repoDir('mirrors', 'book'));
    const off = api.push({ owner: 'mirrors', name: 'book' }, sha);
    (off.repository as Record<string, unknown>).mirror = true;
    const r = await api.deliver('push', off);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ queued: false, reason: 'mirrors/book is a mirror of github.com/rust-lang/book and CI is off for it (mirrors.sources[0].ci, or mirrors.ci, is false): mirrored code runs no CI until enabled' });
    const on = api.push({ owner: 'mirrors', name: 'cargo' }, await gitHead(gitea.repoDir('mirrors', 'cargo')));
    (on.repository as Record<string, unknown>).mirror = true;
    expect((await api.deliver('push', on)).status).toBe(202);
    const manual = await api.call('POST', '/api/v1/jobs', { body: { repo: 'mirrors/book' } });
    expect(manual.status).toBe(403);
    expect(manual.body.error).toBe('mirror-ci-off');
  });

  it('exports mirror metrics and documents the routes in the OpenAPI document', async () => {
    const metrics = (await api.call('GET', '/metrics', { token: null })).text;
    expect(metrics).toMatch(/^raibid_mirror_webhooks_total\{result="synced"\} 2$/m);
    expect(metrics).toMatch(/^raibid_mirror_webhooks_total\{result="unauthorized"\} 2$/m);
    expect(metrics).toMatch(/^raibid_mirrors\{state="missing"\} 1$/m);
    expect(metrics).toMatch(/^raibid_mirror_last_sync_timestamp_seconds\{mirror="mirrors\/book"\} \d+$/m);
    expect(metrics).toMatch(/^raibid_mirror_sync_request_seconds_count\{result="synced"\} 2$/m);
    const paths = Object.keys((await api.call('GET', '/openapi.json', { token: null })).body.paths);
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/webhooks/github', '/api/v1/mirrors']));
  });
});
