/**
 * The API's HTTP surface (fastify): the Gitea webhook, the job REST API, logs (text and Server-Sent
 * Events), pools and agents, health, metrics and the OpenAPI document. Every request body and query is
 * validated against its schema (schemas.ts); every refusal is a JSON `{error, message}` with a 4xx.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { API_PREFIX, HEALTH_PATH, METRICS_PATH, READY_PATH, WEBHOOK_ROUTE, type ApiSettings } from '../contract.js';
import { JobStore } from '../../jobs/store.js';
import { formatLogEntry, type LogEntry } from '../../jobs/log.js';
import { publicRecord, type JobRecord } from '../../jobs/record.js';
import { jobLogUrl } from '../../jobs/status.js';
import type { GiteaClient } from '../../gitea/client.js';
import { ApiError, JobService, type TriggerResult } from './service.js';
import { HANDLED_EVENTS, PayloadError, readDelivery, verifySignature } from './webhooks.js';
import { agentSchema, clusterSchema, createJobBody, errorResponses, jobIdParams, jobSchema, listJobsQuery, logsQuery, poolSchema, triggerResponse } from './schemas.js';
import { NodeUsage } from './node.js';
import type { Metrics } from './metrics.js';
import { mirrorCiRefusal, registerMirrorRoutes } from './mirrors.js';

/** Largest request body, bytes (Gitea's payloads are far smaller). */
export const BODY_LIMIT = 1024 * 1024;

export interface ApiDeps {
  readonly store: JobStore;
  readonly gitea: GiteaClient;
  readonly settings: ApiSettings;
  readonly webhookSecret: string;
  /** HMAC secret of GitHub's webhooks (repository mirrors, src/api/server/mirrors.ts). */
  readonly githubWebhookSecret?: string;
  readonly tokens: { readonly admin: string; readonly read?: string };
  readonly metrics: Metrics;
  readonly version: string;
  readonly logger?: FastifyServerOptions['logger'];
  /** The node's CPU and memory (default: this machine's /proc with the settings' reservations). */
  readonly node?: NodeUsage;
}

type Access = 'none' | 'read' | 'admin';
declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

function sameSecret(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Redis or the network failed underneath: the client may try again. */
function isUnavailable(e: unknown): boolean {
  const m = String((e as Error)?.message ?? '');
  return /ECONNREFUSED|ECONNRESET|Connection is closed|MaxRetriesPerRequest|Stream isn't writeable|LOADING|ETIMEDOUT/.test(m) || (e as Error)?.name === 'MaxRetriesPerRequestError';
}

export async function buildApi(deps: ApiDeps): Promise<{ app: FastifyInstance; service: JobService }> {
  const { store, settings } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, allErrors: true, coerceTypes: true } },
    // Ids and cursors are short; nothing else belongs in a path parameter.
    maxParamLength: 200,
  });
  const service = new JobService(store, deps.gitea, settings, app.log, deps.metrics);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'raibid-ci API', version: deps.version, description: 'Jobs, logs, pools and agents of raibid-ci, and the Gitea webhook that queues jobs.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'RAIBID_ADMIN_TOKEN (read and act) or RAIBID_READ_TOKEN (read only)' } } },
    },
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; validationContext?: string; code?: string }, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send({ error: err.code, message: err.message });
    if (err.validation) return reply.code(400).send({ error: 'invalid-request', message: `${err.message}` });
    if (err.statusCode === 413) return reply.code(413).send({ error: 'too-large', message: `request body over ${BODY_LIMIT} bytes` });
    if (err.statusCode === 415) return reply.code(415).send({ error: 'unsupported-media-type', message: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: 'bad-request', message: err.message });
    if (isUnavailable(err)) {
      req.log.warn({ err: err.message }, 'Redis unavailable');
      return reply.code(503).send({ error: 'unavailable', message: 'the job store (Redis) is unavailable; try again' });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; the API log has the details' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  // Bearer tokens for everything but the webhook, health, metrics and the OpenAPI document.
  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config?.access ?? (req.url.startsWith(API_PREFIX) ? 'admin' : 'none');
    if (access === 'none') return;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    if (!token) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'missing Authorization: Bearer <token>' });
    const admin = sameSecret(token, deps.tokens.admin);
    const read = sameSecret(token, deps.tokens.read);
    if (!admin && !read) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'invalid token' });
    if (access === 'admin' && !admin) return reply.code(403).send({ error: 'forbidden', message: 'this token may only read; use the admin token' });
  });

  const json = (r: JobRecord) => ({ ...publicRecord(r), url: jobLogUrl(settings.publicUrl, r.id) });
  const actorOf = (req: FastifyRequest) => (sameSecret(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '', deps.tokens.admin) ? 'admin' : 'reader');
  const triggerReply = (reply: FastifyReply, r: TriggerResult) => {
    switch (r.outcome) {
      case 'queued':
        return reply.code(202).send({ queued: true, id: r.id, pool: r.pool, url: jobLogUrl(settings.publicUrl, r.id) });
      case 'duplicate':
        return reply.code(200).send({ queued: false, duplicate: true, id: r.id, pool: r.pool, reason: 'this delivery was already queued' });
      case 'error':
        return reply.code(200).send({ queued: false, id: r.id, pool: r.pool, reason: r.reason, url: jobLogUrl(settings.publicUrl, r.id) });
      case 'skipped':
        return reply.code(200).send({ queued: false, reason: r.reason });
    }
  };

  // ---- the Gitea webhook: raw body (the signature covers its exact bytes), then JSON.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    scope.post(
      WEBHOOK_ROUTE,
      {
        config: { access: 'none' },
        schema: {
          summary: 'Gitea webhook (push, pull_request)',
          description: 'Signed with X-Gitea-Signature (HMAC-SHA256 of the body). 202: a job was queued; 200: nothing was queued, and `reason` says why.',
          tags: ['webhooks'],
          headers: {
            type: 'object',
            properties: { 'x-gitea-event': { type: 'string' }, 'x-gitea-delivery': { type: 'string' }, 'x-gitea-signature': { type: 'string' } },
          },
          response: { 200: triggerResponse, 202: triggerResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const event = String(req.headers['x-gitea-event'] ?? '');
        const count = (result: string) => deps.metrics.webhooks.inc({ event: (HANDLED_EVENTS as readonly string[]).includes(event) ? event : 'other', result });
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (!verifySignature(deps.webhookSecret, body, req.headers['x-gitea-signature'] as string | undefined)) {
          count('unauthorized');
          throw new ApiError(401, 'bad-signature', 'missing or invalid X-Gitea-Signature (HMAC-SHA256 of the body with the webhook secret)');
        }
        if (!(HANDLED_EVENTS as readonly string[]).includes(event)) {
          count('unknown-event');
          throw new ApiError(400, 'unknown-event', `X-Gitea-Event ${JSON.stringify(event)} is not handled (only ${HANDLED_EVENTS.join(', ')}); configure the webhook for push and pull_request events`);
        }
        const delivery = String(req.headers['x-gitea-delivery'] ?? '');
        if (!/^[\w-]{1,100}$/.test(delivery)) {
          count('invalid');
          throw new ApiError(400, 'invalid-delivery', 'missing or malformed X-Gitea-Delivery header');
        }
        let payload: unknown;
        try {
          payload = JSON.parse(body.toString('utf8'));
        } catch {
          count('invalid');
          throw new ApiError(400, 'malformed-json', 'the body is not valid JSON');
        }
        let intent;
        try {
          intent = readDelivery(event as 'push' | 'pull_request', payload, { tagPushes: settings.tagPushes });
        } catch (e) {
          if (!(e instanceof PayloadError)) throw e;
          count('invalid');
          throw new ApiError(400, 'invalid-payload', `${event} payload: ${e.message}`);
        }
        if (intent.kind === 'skip') {
          count('skipped');
          return reply.code(200).send({ queued: false, reason: intent.reason });
        }
        if (!service.ownerAllowed(intent.owner)) {
          count('skipped');
          return reply.code(200).send({ queued: false, reason: `${intent.owner} may not run CI (jobs.allowedOwners: ${settings.allowedOwners.join(', ')})` });
        }
        const mirrorOff = mirrorCiRefusal(settings, intent.repo, (payload as { repository?: { mirror?: unknown } }).repository?.mirror);
        if (mirrorOff) {
          count('skipped');
          return reply.code(200).send({ queued: false, reason: mirrorOff });
        }
        const r = await service.trigger({ ...intent, delivery });
        count(r.outcome);
        return triggerReply(reply, r);
      },
    );
  });

  // ---- repository mirrors: the GitHub webhook and GET /mirrors
  await registerMirrorRoutes(app, { settings, gitea: deps.gitea, store, metrics: deps.metrics, githubWebhookSecret: deps.githubWebhookSecret });

  // ---- jobs
  app.get('/api/v1/jobs', { config: { access: 'read' }, schema: { summary: 'List jobs, newest first', tags: ['jobs'], security: [{ bearer: [] }], querystring: listJobsQuery, response: { 200: { type: 'object', properties: { jobs: { type: 'array', items: jobSchema }, next: { type: 'string' } } }, ...errorResponses } } }, async (req) => {
    const q = req.query as { status?: JobRecord['status']; repo?: string; ref?: string; pool?: string; limit: number; cursor?: string };
    const page = await store.list({ status: q.status, repo: q.repo, ref: q.ref, pool: q.pool }, q.limit, q.cursor);
    return { jobs: page.jobs.map(json), ...(page.next ? { next: page.next } : {}) };
  });

  app.get('/api/v1/jobs/:id', { config: { access: 'read' }, schema: { summary: 'One job', tags: ['jobs'], security: [{ bearer: [] }], params: jobIdParams, response: { 200: jobSchema, ...errorResponses } } }, async (req) => {
    const { id } = req.params as { id: string };
    const r = await store.get(id);
    if (!r) throw new ApiError(404, 'not-found', `no job ${id} (unknown, or expired after the retention)`);
    return json(r);
  });

  app.post('/api/v1/jobs', { config: { access: 'admin' }, schema: { summary: 'Run a job for a repository at a ref or commit', tags: ['jobs'], security: [{ bearer: [] }], body: createJobBody, response: { 200: triggerResponse, 202: triggerResponse, ...errorResponses } } }, async (req, reply) => {
    const b = req.body as { repo: string; ref?: string; sha?: string; pool?: string };
    if (b.ref && b.sha) throw new ApiError(400, 'invalid-request', 'give ref or sha, not both');
    if (b.pool && !service.pool(b.pool)) throw new ApiError(400, 'unknown-pool', `pool ${JSON.stringify(b.pool)} does not exist (pools: ${settings.pools.map((p) => p.name).join(', ')})`);
    const repo = await deps.gitea.repo(b.repo);
    if (!repo) throw new ApiError(404, 'unknown-repository', `Gitea has no repository ${b.repo} (or the bot user cannot see it)`);
    if (!service.ownerAllowed(repo.owner)) throw new ApiError(403, 'owner-not-allowed', `${repo.owner} may not run CI (jobs.allowedOwners: ${settings.allowedOwners.join(', ')})`);
    const mirrorOff = mirrorCiRefusal(settings, b.repo, repo.mirror);
    if (mirrorOff) throw new ApiError(403, 'mirror-ci-off', mirrorOff);
    const ref = b.ref ?? (b.sha ? undefined : repo.defaultBranch);
    const commit = await deps.gitea.commit(b.repo, b.sha ?? ref!);
    if (!commit) throw new ApiError(404, 'unknown-ref', `${b.repo} has no ${b.sha ? `commit ${b.sha}` : `branch, tag or commit ${JSON.stringify(ref)}`}`);
    const fullRef = !ref ? commit.sha : ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
    const r = await service.trigger({ event: 'manual', repo: b.repo, cloneUrl: repo.cloneUrl, ref: fullRef, branch: ref && !ref.startsWith('refs/') ? ref : undefined, sha: commit.sha, title: commit.title, actor: actorOf(req), pool: b.pool });
    return triggerReply(reply, r);
  });

  app.post('/api/v1/jobs/:id/cancel', { config: { access: 'admin' }, schema: { summary: 'Cancel a queued or running job', tags: ['jobs'], security: [{ bearer: [] }], params: jobIdParams, response: { 200: jobSchema, 202: jobSchema, ...errorResponses } } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = await service.cancel(id, actorOf(req));
    return reply.code(r.outcome === 'cancelled' ? 200 : 202).send(json(r.record));
  });

  app.post('/api/v1/jobs/:id/retry', { config: { access: 'admin' }, schema: { summary: 'Run an ended job again, as a new job', tags: ['jobs'], security: [{ bearer: [] }], params: jobIdParams, response: { 200: triggerResponse, 202: triggerResponse, ...errorResponses } } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    return triggerReply(reply, await service.retry(id, actorOf(req)));
  });

  app.get(
    '/api/v1/jobs/:id/logs',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A job\'s log: plain text, or Server-Sent Events that follow it live (Accept: text/event-stream or ?follow=true; resumes from Last-Event-ID)',
        tags: ['jobs'],
        security: [{ bearer: [] }],
        params: jobIdParams,
        querystring: logsQuery,
        produces: ['text/plain', 'text/event-stream'],
        response: { 200: { type: 'string' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const q = req.query as { follow?: boolean; after?: string };
      const record = await store.get(id);
      if (!record) throw new ApiError(404, 'not-found', `no job ${id} (unknown, or expired after the retention)`);
      const sse = q.follow === true || String(req.headers.accept ?? '').includes('text/event-stream');
      if (!sse) {
        const lines: string[] = [];
        let after: string | undefined = q.after;
        for (;;) {
          const batch: LogEntry[] = await store.readLog(id, after, 1000);
          for (const e of batch) if (e.kind !== 'end') lines.push(formatLogEntry(e));
          if (batch.length < 1000) break;
          after = batch[batch.length - 1].id;
        }
        return reply.type('text/plain; charset=utf-8').send(lines.length ? `${lines.join('\n')}\n` : '');
      }
      const lastEventId = String(req.headers['last-event-id'] ?? q.after ?? '');
      if (lastEventId && !/^\d+-\d+$/.test(lastEventId)) throw new ApiError(400, 'invalid-request', 'Last-Event-ID must be a log entry id such as 1700000000000-0');
      reply.hijack();
      await followLog(req, reply, store, id, lastEventId || '0');
    },
  );

  // ---- pools and agents
  app.get('/api/v1/pools', { config: { access: 'read' }, schema: { summary: 'Pools with their queue figures', tags: ['pools'], security: [{ bearer: [] }], response: { 200: { type: 'object', properties: { pools: { type: 'array', items: poolSchema } } }, ...errorResponses } } }, async () => {
    const agents = await store.agents();
    const pools = await Promise.all(
      settings.pools.map(async (p) => {
        const q = await store.queueInfo(p.stream, p.group);
        const mine = agents.filter((a) => a.pool === p.name);
        return { name: p.name, mode: p.mode, stream: p.stream, lag: q.lag, pending: q.pending, dead: q.dead, running: mine.reduce((n, a) => n + a.busy, 0), agents: mine.length, planned: p.planned ?? null };
      }),
    );
    return { pools };
  });

  const node = deps.node ?? new NodeUsage({ cpuMillis: settings.cluster?.reservedCpuMillis ?? 0, memoryBytes: settings.cluster?.reservedMemoryBytes ?? 0 });
  const readNode = () => {
    try {
      return node.read();
    } catch (e) {
      app.log.warn({ err: (e as Error).message }, 'cannot read the node figures');
      return null;
    }
  };
  readNode(); // the first CPU sample, so the first answer can already tell CPU in use a second later
  app.get('/api/v1/cluster', { config: { access: 'read' }, schema: { summary: 'The cluster: node CPU and memory in use and allocatable, agents against the capacity plan', tags: ['pools'], security: [{ bearer: [] }], response: { 200: clusterSchema, ...errorResponses } } }, async () => {
    const agents = await store.agents();
    const pools = settings.pools.map((p) => ({ name: p.name, mode: p.mode, agents: agents.filter((a) => a.pool === p.name).length, planned: p.planned ?? null }));
    const planned = pools.every((p) => p.planned !== null) ? pools.reduce((n, p) => n + (p.planned ?? 0), 0) : null;
    return { name: settings.cluster?.name ?? null, node: readNode(), agents: { running: agents.length, planned }, pools };
  });

  app.get('/api/v1/agents', { config: { access: 'read' }, schema: { summary: 'Agents with a live heartbeat', tags: ['agents'], security: [{ bearer: [] }], response: { 200: { type: 'object', properties: { agents: { type: 'array', items: agentSchema } } }, ...errorResponses } } }, async () => {
    const agents = await store.agents();
    return { agents: agents.map((a) => ({ ...a, free: Math.max(0, a.slots - a.busy) })).sort((a, b) => a.pool.localeCompare(b.pool) || a.name.localeCompare(b.name)) };
  });

  // ---- health, metrics, OpenAPI
  app.get(HEALTH_PATH, { config: { access: 'none' }, schema: { hide: true } }, async () => ({ ok: true }));
  app.get(READY_PATH, { config: { access: 'none' }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await Promise.race([store.redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000))]);
      return { ok: true };
    } catch (e) {
      return reply.code(503).send({ error: 'unavailable', message: `Redis is not reachable: ${(e as Error).message}` });
    }
  });
  app.get(METRICS_PATH, { config: { access: 'none' }, schema: { hide: true } }, async (_req, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  app.get('/openapi.json', { config: { access: 'none' }, schema: { hide: true } }, async () => app.swagger());

  return { app, service };
}

/** Streams a job's log as Server-Sent Events from `after`, until its `end` entry or the client leaves. */
async function followLog(req: FastifyRequest, reply: FastifyReply, store: JobStore, id: string, after: string): Promise<void> {
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  raw.write('retry: 2000\n\n');
  const conn = store.redis.duplicate();
  let closed = false;
  req.raw.on('close', () => {
    closed = true;
    conn.disconnect();
  });
  let last = after;
  try {
    while (!closed) {
      const entries = await JobStore.waitLog(conn, id, last, 10_000);
      if (closed) break;
      if (entries.length === 0) {
        raw.write(': keep-alive\n\n');
        // A record that expired, or ended without an end marker, has nothing more to say.
        const r = await store.get(id);
        if (!r) break;
        continue;
      }
      let ended = false;
      for (const e of entries) {
        raw.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify({ step: e.step, time: e.time, text: e.text })}\n\n`);
        last = e.id!;
        if (e.kind === 'end') ended = true;
      }
      if (ended) break;
    }
  } catch (e) {
    if (!closed) req.log.warn({ job: id, err: (e as Error).message }, 'log stream ended early');
  } finally {
    conn.disconnect();
    if (!raw.writableEnded) raw.end();
  }
}
