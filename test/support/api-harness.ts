/**
 * The API under test, in-process: the settings file is the synthesized ConfigMap's `config.yaml` (only
 * `listen` and `publicUrl` are pointed at this machine), Redis is a real server set up from the
 * synthesized config and ACL (support/redis.ts) with the API authenticating as its own ACL user, and
 * Gitea is the swagger-validating stand-in (support/gitea-standin.ts).
 */
import { parse } from 'yaml';
import type { FastifyInstance } from 'fastify';
import { apiSettingsSchema, type ApiSettings } from '../../src/api/contract.js';
import { buildApi } from '../../src/api/server/app.js';
import { createMetrics } from '../../src/api/server/metrics.js';
import type { JobService } from '../../src/api/server/service.js';
import { Reaper } from '../../src/api/server/reaper.js';
import { GiteaClient } from '../../src/gitea/client.js';
import { connectRedis, JobStore } from '../../src/jobs/store.js';
import { findObject, objectsUnder } from '../helpers.js';
import { startGiteaStandIn, type GiteaStandIn } from './gitea-standin.js';
import { signedDelivery, pushPayload, ZERO_SHA, type HookEventType } from './gitea-webhooks.js';
import { HAS_WAITAOF, type TestRedis } from './redis.js';

export const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123456789';
/** HMAC secret of GitHub's webhooks (repository mirrors). */
export const GITHUB_WEBHOOK_SECRET = 'github-webhook-secret-for-tests-0123456789';
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';
export const READ_TOKEN = 'read-token-for-tests-0123456789abcdef';
export const BOT_TOKEN = 'bot-token-for-tests-0123456789abcdef';
export const BOT_USER = 'raibid-bot';

/** The API's settings as synthesized for a raibid.yaml. */
export function synthesizedApiSettings(yaml = ''): Record<string, unknown> {
  const cm = findObject(objectsUnder('apps/api/', yaml), 'ConfigMap', 'raibid-api');
  return parse(cm.data['config.yaml']) as Record<string, unknown>;
}

export interface ApiHarness {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly service: JobService;
  readonly store: JobStore;
  readonly gitea: GiteaStandIn;
  readonly settings: ApiSettings;
  readonly reaper: Reaper;
  /** Lines the API logged (JSON). */
  readonly logs: string[];
  /** Sends a signed delivery; returns status and JSON body. */
  deliver(event: HookEventType, payload: object, opts?: { delivery?: string; secret?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: Record<string, any> }>;
  /** A request with the admin token (or another). */
  call(method: string, path: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  /** A push payload for a repository of the stand-in. */
  push(repo: { owner: string; name: string }, sha: string, opts?: { ref?: string; message?: string; before?: string }): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startApi(redis: TestRedis, opts: { yaml?: string; settings?: Partial<ApiSettings>; gitea?: GiteaStandIn } = {}): Promise<ApiHarness> {
  const gitea = opts.gitea ?? (await startGiteaStandIn({ tokens: { [BOT_TOKEN]: BOT_USER } }));
  const settings = apiSettingsSchema.parse({
    ...synthesizedApiSettings(opts.yaml),
    listen: '127.0.0.1:0',
    publicUrl: 'http://ci.test.invalid:8080/',
    durability: HAS_WAITAOF ? 'aof' : 'none',
    reaperMinIdleMs: 200,
    reaperIntervalMs: 100_000,
    ...opts.settings,
  });
  const conn = connectRedis({ url: redis.url, username: redis.api.username, password: redis.api.password });
  const store = new JobStore(conn, { retentionSeconds: settings.retentionSeconds });
  const metrics = createMetrics(store, settings);
  const logs: string[] = [];
  const stream = { write: (l: string) => void logs.push(l) };
  const { app, service } = await buildApi({
    store,
    gitea: new GiteaClient({ url: gitea.url, token: BOT_TOKEN, attempts: 2 }),
    settings,
    webhookSecret: WEBHOOK_SECRET,
    githubWebhookSecret: GITHUB_WEBHOOK_SECRET,
    tokens: { admin: ADMIN_TOKEN, read: READ_TOKEN },
    metrics,
    version: 'test',
    logger: { level: 'info', stream },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const reaper = new Reaper(store, settings, service, metrics, app.log);
  return {
    url,
    app,
    service,
    store,
    gitea,
    settings,
    reaper,
    logs,
    async deliver(event, payload, o = {}) {
      const d = signedDelivery(o.secret ?? WEBHOOK_SECRET, event, payload, o.delivery);
      const res = await fetch(`${url}/api/v1/webhooks/gitea`, { method: 'POST', headers: { ...d.headers, ...o.headers }, body: o.body ?? d.body });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? ADMIN_TOKEN : o.token;
      if (token) headers.authorization = `Bearer ${token}`;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body) });
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text, headers: res.headers };
    },
    push(repo, sha, o = {}) {
      const message = o.message ?? 'a change';
      return pushPayload({
        baseUrl: gitea.url,
        repo: { owner: { login: repo.owner }, name: repo.name },
        ref: o.ref ?? 'refs/heads/main',
        before: o.before ?? ZERO_SHA.replace(/0$/, '1'),
        after: sha,
        commits: sha === ZERO_SHA ? [] : [{ id: sha, message }],
        pusher: { login: 'alice' },
      });
    },
    async close() {
      await reaper.stop();
      await app.close();
      conn.disconnect();
      if (!opts.gitea) await gitea.close();
    },
  };
}
