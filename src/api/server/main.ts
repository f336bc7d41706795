/**
 * `raibid api`: reads its configuration (settings.ts), connects to Redis as the API's ACL user, serves
 * the HTTP API (app.ts), and runs the reaper (reaper.ts) and, for direct pools, the Job dispatcher
 * (direct.ts). SIGTERM or SIGINT closes the listener, lets requests in flight finish, and exits 0.
 */
import { loadApiConfig, StartupError } from './settings.js';
import { connectRedis, JobStore, type FinishedEvent } from '../../jobs/store.js';
import { EVENTS_CHANNEL } from '../../jobs/keys.js';
import { GiteaClient } from '../../gitea/client.js';
import { buildApi } from './app.js';
import { createMetrics } from './metrics.js';
import { Reaper } from './reaper.js';
import { DirectDispatcher } from './direct.js';
import { VERSION } from '../../cli/version.js';

export interface ApiProcessOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Overrides `listen` from the settings file (`--listen`). */
  readonly listen?: string;
  readonly err: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the API until a signal; resolves with the exit code. */
export async function runApi(o: ApiProcessOptions): Promise<number> {
  let config;
  try {
    config = loadApiConfig(o.env, o.listen ? { listen: o.listen } : {});
  } catch (e) {
    if (e instanceof StartupError) {
      o.err(e.message);
      return 2;
    }
    throw e;
  }
  const { settings } = config;
  const logger = { level: o.env.LOG_LEVEL ?? 'info', base: { component: 'raibid-api' }, redact: ['req.headers.authorization', 'req.headers["x-gitea-signature"]', 'req.headers["x-hub-signature-256"]'] };
  const redis = connectRedis(config.redis, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  const store = new JobStore(redis, { retentionSeconds: settings.retentionSeconds });
  const metrics = createMetrics(store, settings);
  const gitea = new GiteaClient({ url: config.gitea.url, token: config.gitea.token });
  const { app, service } = await buildApi({ store, gitea, settings, webhookSecret: config.webhookSecret, githubWebhookSecret: config.githubWebhookSecret, tokens: config.tokens, metrics, version: VERSION, logger });

  // Redis may come up after the API (a new pod's NetworkPolicy, a restarting Redis): wait with backoff.
  for (let attempt = 1; ; attempt++) {
    try {
      await redis.ping();
      break;
    } catch (e) {
      if (attempt === 1 || attempt % 10 === 0) app.log.warn({ err: (e as Error).message, attempt }, 'waiting for Redis');
      await sleep(Math.min(250 * 2 ** Math.min(attempt, 5), 5_000) + Math.random() * 250);
    }
  }
  if (settings.durability === 'aof') {
    try {
      await redis.call('WAITAOF', 0, 0, 0);
    } catch (e) {
      o.err(`raibid api cannot start: Redis cannot confirm writes on disk (WAITAOF: ${(e as Error).message.split('\n')[0]}). It needs Redis 7.2 or newer with appendonly yes, and the raibid-api ACL user allowed WAITAOF; or set durability: none in the settings file to accept losing up to a second of jobs on a crash.`);
      redis.disconnect();
      return 2;
    }
  }

  const events = redis.duplicate();
  events.on('error', () => undefined);
  await events.subscribe(EVENTS_CHANNEL);
  events.on('message', (_channel, message) => {
    try {
      const e = JSON.parse(message) as FinishedEvent;
      metrics.jobs.inc({ pool: e.pool, status: e.status });
      if (e.durationMs > 0) metrics.duration.observe({ pool: e.pool, status: e.status }, e.durationMs / 1000);
    } catch {
      app.log.warn('malformed job event');
    }
  });

  const reaper = new Reaper(store, settings, service, metrics, app.log);
  const direct = settings.pools.some((p) => p.mode === 'direct') ? await DirectDispatcher.create(store, settings, service, app.log, o.env) : undefined;
  const [host, port] = [settings.listen.slice(0, settings.listen.lastIndexOf(':')), Number(settings.listen.slice(settings.listen.lastIndexOf(':') + 1))];
  try {
    await app.listen({ host, port });
  } catch (e) {
    o.err(`raibid api cannot listen on ${settings.listen}: ${(e as Error).message}`);
    redis.disconnect();
    events.disconnect();
    return 1;
  }
  reaper.start();
  direct?.start();

  return new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      app.log.info({ signal }, 'shutting down');
      await reaper.stop();
      await direct?.stop();
      await app.close();
      events.disconnect();
      await redis.quit().catch(() => undefined);
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
