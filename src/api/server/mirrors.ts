/**
 * The API's part of repository mirroring (src/mirror/):
 *
 *   POST /api/v1/webhooks/github   a GitHub push (X-Hub-Signature-256, its own secret) syncs the mirror
 *                                  of the pushed repository at once: Gitea's mirror-sync, whose own push
 *                                  webhook then reaches POST /webhooks/gitea like any push
 *   GET  /api/v1/mirrors           every mirror: last and next sync, last error, stale after 24 h
 *   mirrorCiRefusal                CI of a mirror is off unless its source says `ci: true`
 *
 * Where the state lives: Gitea is the truth for when a mirror last synced (`mirror_updated`, whoever
 * triggered it: its own interval, a webhook, the migration) and for its interval (next sync = last sync +
 * interval). What Gitea does not keep — the webhook path's last request and last error — is a Redis hash
 * per mirror (contract.ts mirrorStateKey). A configured repository missing from Gitea is reported as such.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';
import { z } from 'zod';
import type { ApiSettings } from '../contract.js';
import { GITHUB_WEBHOOK_ROUTE, MIRRORS_ROUTE, MIRROR_STALE_SECONDS, MIRROR_STATE_TTL_SECONDS, goDuration, mirrorStateKey, type MirrorSource } from '../../mirror/contract.js';
import { skipReason, sourceLabel, sourceOfGithub, sourceOfTarget, targetOf } from '../../mirror/match.js';
import { GiteaError, type GiteaClient } from '../../gitea/client.js';
import type { JobStore } from '../../jobs/store.js';
import type { Metrics } from './metrics.js';
import { ApiError } from './service.js';
import { errorResponses } from './schemas.js';

/** Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `secret`; constant time. */
export function verifyGithubSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header ?? '');
  if (!m) return false;
  return timingSafeEqual(createHmac('sha256', secret).update(body).digest(), Buffer.from(m[1], 'hex'));
}

/**
 * Why a push to a Gitea repository may not run CI because it is a mirror whose source keeps CI off;
 * undefined when it may. `mirrorFlag` is Gitea's `repository.mirror` (false: not a mirror, whatever its name).
 */
export function mirrorCiRefusal(settings: ApiSettings, repo: string, mirrorFlag: unknown): string | undefined {
  if (mirrorFlag === false) return undefined;
  const source = sourceOfTarget(settings.mirrors, repo);
  if (!source || source.ci) return undefined;
  return `${repo} is a mirror of ${sourceLabel(source)}${source.kind === 'owner' ? `/${repo.split('/')[1]}` : ''} and CI is off for it (${source.key}.ci, or mirrors.ci, is false): mirrored code runs no CI until enabled`;
}

/** One mirror as GET /api/v1/mirrors shows it. */
export interface MirrorStatus {
  readonly mirror: string;
  readonly source: string;
  readonly sourceKey: string;
  readonly ci: boolean;
  readonly interval: string;
  /** Whether the mirror exists in Gitea. */
  readonly exists: boolean;
  readonly lastSync: string | null;
  readonly nextSync: string | null;
  readonly stale: boolean;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  /** When a GitHub push webhook last asked Gitea to sync it. */
  readonly lastWebhookAt: string | null;
}

const mirrorSchema = {
  type: 'object',
  properties: {
    mirror: { type: 'string', description: 'owner/name in Gitea' },
    source: { type: 'string', description: 'github.com/owner/name' },
    sourceKey: { type: 'string', description: 'The entry of raibid.yaml, e.g. mirrors.sources[0]' },
    ci: { type: 'boolean', description: 'Whether pushes to the mirror run CI' },
    interval: { type: 'string', description: 'Gitea\'s pull interval (Go duration)' },
    exists: { type: 'boolean', description: 'false: configured, but not in Gitea yet' },
    lastSync: { type: ['string', 'null'], description: 'Last successful sync (Gitea\'s mirror_updated), RFC 3339' },
    nextSync: { type: ['string', 'null'], description: 'Last sync + interval' },
    stale: { type: 'boolean', description: `Not synced for ${MIRROR_STALE_SECONDS / 3600} h (or never)` },
    lastError: { type: ['string', 'null'] },
    lastErrorAt: { type: ['string', 'null'] },
    lastWebhookAt: { type: ['string', 'null'] },
  },
} as const;

const webhookResponse = {
  type: 'object',
  properties: { synced: { type: 'boolean' }, mirror: { type: 'string' }, reason: { type: 'string' } },
  required: ['synced'],
} as const;

const pushSchema = z
  .object({
    repository: z.object({ full_name: z.string().regex(/^[^/\s]+\/[^/\s]+$/, { error: 'expected owner/name' }), fork: z.boolean().optional(), archived: z.boolean().optional() }).loose(),
  })
  .loose();

/** Largest GitHub delivery, bytes (a push with many commits is larger than Gitea's deliveries). */
export const GITHUB_BODY_LIMIT = 5 * 1024 * 1024;

const iso = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

export interface MirrorDeps {
  readonly settings: ApiSettings;
  readonly gitea: GiteaClient;
  readonly store: JobStore;
  readonly metrics: Metrics;
  readonly githubWebhookSecret?: string;
  /** How long GET /mirrors reuses Gitea's answer, ms. @default 10000 */
  readonly cacheMs?: number;
}

/** The mirrors' status, read from Gitea and Redis (cached briefly: the dashboard polls, Prometheus scrapes). */
export class MirrorStatusService {
  private cache?: { at: number; list: Promise<MirrorStatus[]> };

  constructor(private readonly d: MirrorDeps) {}

  async list(now = Date.now()): Promise<MirrorStatus[]> {
    const ttl = this.d.cacheMs ?? 10_000;
    if (!this.cache || now - this.cache.at > ttl) {
      const list = this.read(now);
      this.cache = { at: now, list };
      list.catch(() => (this.cache = undefined));
    }
    return this.cache.list;
  }

  /** Forget the cached answer (after a webhook changed a mirror's record). */
  invalidate(): void {
    this.cache = undefined;
  }

  private async read(now: number): Promise<MirrorStatus[]> {
    const m = this.d.settings.mirrors;
    if (m.sources.length === 0) return [];
    const found: { target: string; source: MirrorSource; lastSync?: Date }[] = [];
    for (const owner of [...new Set(m.sources.map((s) => s.owner.toLowerCase()))].sort()) {
      for (const r of await this.d.gitea.orgRepos(owner)) {
        if (!r.mirror) continue;
        const source = sourceOfTarget(m, r.fullName, r.originalUrl);
        if (source) found.push({ target: r.fullName, source, lastSync: r.mirrorUpdated });
      }
    }
    const missing = m.sources
      .filter((s) => s.kind === 'repository' && !found.some((f) => f.target.toLowerCase() === targetOf(s, '').toLowerCase()))
      .map((s) => ({ target: targetOf(s, ''), source: s, lastSync: undefined, missing: true as const }));
    const all = [...found.map((f) => ({ ...f, missing: false })), ...missing].sort((a, b) => a.target.localeCompare(b.target));
    const pipeline = this.d.store.redis.pipeline();
    for (const x of all) pipeline.hgetall(mirrorStateKey(x.target));
    const states = ((await pipeline.exec()) ?? []).map(([, v]) => (v ?? {}) as Record<string, string>);
    return all.map((x, i) => {
      const st = states[i] ?? {};
      const last = x.lastSync?.getTime();
      const error = st.lastError || (x.missing ? `not in Gitea yet: \`raibid mirror sync\` creates it${m.schedule ? ` (schedule "${m.schedule}")` : ''}; its log says why when it failed` : '');
      return {
        mirror: x.target,
        source: x.source.kind === 'repository' ? sourceLabel(x.source) : `${sourceLabel(x.source)}/${x.target.split('/')[1]}`,
        sourceKey: x.source.key,
        ci: x.source.ci,
        interval: goDuration(x.source.intervalSeconds),
        exists: !x.missing,
        lastSync: iso(last),
        nextSync: iso(last === undefined ? undefined : last + x.source.intervalSeconds * 1000),
        stale: last === undefined || now - last > MIRROR_STALE_SECONDS * 1000,
        lastError: error || null,
        lastErrorAt: st.lastError ? iso(Number(st.lastErrorAt)) : null,
        lastWebhookAt: st.lastWebhookAt ? iso(Number(st.lastWebhookAt)) : null,
      };
    });
  }
}

/** Registers the GitHub webhook and GET /mirrors, and the mirrors' metrics. */
export async function registerMirrorRoutes(app: FastifyInstance, d: MirrorDeps): Promise<MirrorStatusService> {
  const { settings } = d;
  const status = new MirrorStatusService(d);
  const registry = d.metrics.registry;
  const webhooks = new Counter({ name: 'raibid_mirror_webhooks_total', help: 'GitHub webhook deliveries by result (synced, skipped, unknown, failed, unauthorized, invalid).', labelNames: ['result'], registers: [registry] });
  const syncSeconds = new Histogram({ name: 'raibid_mirror_sync_request_seconds', help: 'Time Gitea took to accept a mirror sync the GitHub webhook asked for.', labelNames: ['result'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const syncErrors = new Counter({ name: 'raibid_mirror_sync_errors_total', help: 'Mirror syncs Gitea refused or failed to accept, by mirror.', labelNames: ['mirror'], registers: [registry] });
  new Gauge({
    name: 'raibid_mirror_last_sync_timestamp_seconds',
    help: 'When each mirror last synced successfully (Gitea\'s mirror_updated), Unix seconds; absent when never.',
    labelNames: ['mirror'],
    registers: [registry],
    async collect() {
      this.reset();
      const list = await status.list().catch(() => []);
      for (const x of list) if (x.lastSync) this.set({ mirror: x.mirror }, Math.floor(Date.parse(x.lastSync) / 1000));
    },
  });
  new Gauge({
    name: 'raibid_mirrors',
    help: `Mirrors by state: fresh, stale (not synced for ${MIRROR_STALE_SECONDS / 3600} h), missing (configured, not in Gitea).`,
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const list = await status.list().catch(() => undefined);
      if (!list) return;
      for (const state of ['fresh', 'stale', 'missing']) this.set({ state }, list.filter((x) => (x.exists ? (x.stale ? 'stale' : 'fresh') : 'missing') === state).length);
    },
  });

  const record = async (target: string, fields: Record<string, string>) => {
    const key = mirrorStateKey(target);
    await d.store.redis.multi().hset(key, fields).expire(key, MIRROR_STATE_TTL_SECONDS).exec();
    status.invalidate();
  };

  // The webhook: raw body (the signature covers its exact bytes), JSON or form-encoded (`payload=`).
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: GITHUB_BODY_LIMIT }, (_req, body, done) => done(null, body));
    scope.post(
      GITHUB_WEBHOOK_ROUTE,
      {
        bodyLimit: GITHUB_BODY_LIMIT,
        config: { access: 'none' },
        schema: {
          summary: 'GitHub webhook (push): sync the mirror of the pushed repository now',
          description:
            'Signed with X-Hub-Signature-256 (sha256=HMAC-SHA256 of the body with the github-webhook-hmac secret). 202: Gitea was asked to sync the mirror; 200: nothing to do, and `reason` says why (ping, another event, a repository no source mirrors).',
          tags: ['webhooks', 'mirrors'],
          headers: { type: 'object', properties: { 'x-github-event': { type: 'string' }, 'x-github-delivery': { type: 'string' }, 'x-hub-signature-256': { type: 'string' } } },
          response: { 200: webhookResponse, 202: webhookResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (!d.githubWebhookSecret || !verifyGithubSignature(d.githubWebhookSecret, body, req.headers['x-hub-signature-256'] as string | undefined)) {
          webhooks.inc({ result: 'unauthorized' });
          throw new ApiError(401, 'bad-signature', 'missing or invalid X-Hub-Signature-256 (sha256=HMAC-SHA256 of the body with the github-webhook-hmac secret)');
        }
        const event = String(req.headers['x-github-event'] ?? '');
        if (event === 'ping') {
          webhooks.inc({ result: 'skipped' });
          return reply.code(200).send({ synced: false, reason: 'pong: the webhook reaches raibid-ci and its secret matches' });
        }
        if (event !== 'push') {
          webhooks.inc({ result: 'skipped' });
          return reply.code(200).send({ synced: false, reason: `event ${JSON.stringify(event)} is not used: mirrors sync on push (configure the webhook for push events only)` });
        }
        let payload: unknown;
        try {
          const text = body.toString('utf8');
          const form = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
          payload = JSON.parse(form ? (new URLSearchParams(text).get('payload') ?? '') : text);
        } catch {
          webhooks.inc({ result: 'invalid' });
          throw new ApiError(400, 'malformed-json', 'the body is not valid JSON (nor a form with a JSON payload field)');
        }
        const p = pushSchema.safeParse(payload);
        if (!p.success) {
          webhooks.inc({ result: 'invalid' });
          throw new ApiError(400, 'invalid-payload', `push payload: ${p.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; ')}`);
        }
        const repo = p.data.repository;
        const source = sourceOfGithub(settings.mirrors, repo.full_name);
        if (!source) {
          webhooks.inc({ result: 'unknown' });
          return reply.code(200).send({ synced: false, reason: `github.com/${repo.full_name} is not mirrored: no entry of mirrors.sources covers it` });
        }
        const name = repo.full_name.split('/')[1];
        const skipped = skipReason(source, { name, fork: repo.fork, archived: repo.archived });
        const target = targetOf(source, name);
        if (skipped) {
          webhooks.inc({ result: 'skipped' });
          return reply.code(200).send({ synced: false, mirror: target, reason: `github.com/${repo.full_name} is not mirrored: ${skipped} (${source.key})` });
        }
        const t0 = process.hrtime.bigint();
        try {
          await d.gitea.mirrorSync(target);
        } catch (e) {
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (e instanceof GiteaError && e.status === 404) {
            syncSeconds.observe({ result: 'missing' }, seconds);
            webhooks.inc({ result: 'unknown' });
            await record(target, { lastError: 'a push arrived, but the mirror is not in Gitea yet', lastErrorAt: String(Date.now()) }).catch(() => undefined);
            return reply.code(200).send({ synced: false, mirror: target, reason: `${target} is not in Gitea yet: \`raibid mirror sync\` creates it (${source.key})` });
          }
          syncSeconds.observe({ result: 'failed' }, seconds);
          webhooks.inc({ result: 'failed' });
          syncErrors.inc({ mirror: target });
          const message = (e as Error).message;
          await record(target, { lastError: message, lastErrorAt: String(Date.now()) }).catch(() => undefined);
          req.log.warn({ mirror: target, err: message }, 'mirror sync request failed');
          throw new ApiError(503, 'gitea-unavailable', `Gitea did not accept the sync of ${target}: ${message}`);
        }
        syncSeconds.observe({ result: 'synced' }, Number(process.hrtime.bigint() - t0) / 1e9);
        webhooks.inc({ result: 'synced' });
        await record(target, { lastWebhookAt: String(Date.now()), lastError: '', lastErrorAt: '' });
        req.log.info({ mirror: target, from: `github.com/${repo.full_name}`, delivery: req.headers['x-github-delivery'] }, 'mirror sync requested');
        return reply.code(202).send({ synced: true, mirror: target });
      },
    );
  });

  app.get(
    MIRRORS_ROUTE,
    {
      config: { access: 'read' },
      schema: {
        summary: 'Repository mirrors: last and next sync, last error, stale',
        tags: ['mirrors'],
        security: [{ bearer: [] }],
        response: { 200: { type: 'object', properties: { mirrors: { type: 'array', items: mirrorSchema }, schedule: { type: 'string' }, staleAfterSeconds: { type: 'integer' } } }, ...errorResponses },
      },
    },
    async () => {
      try {
        return { mirrors: await status.list(), schedule: settings.mirrors.schedule, staleAfterSeconds: MIRROR_STALE_SECONDS };
      } catch (e) {
        if (e instanceof GiteaError) throw new ApiError(503, 'gitea-unavailable', `cannot read the mirrors from Gitea: ${e.message}`);
        throw e;
      }
    },
  );
  return status;
}
