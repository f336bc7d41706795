/**
 * `raibid agent`: one agent of a pool, in the mode its environment names.
 *
 * - ephemeral (KEDA ScaledJob): waits up to RAIBID_IDLE_EXIT_SECONDS for an entry (XREADGROUP BLOCK),
 *   runs that one job and exits 0; exits 0 without work when none comes. `/claimed` turns 200 the
 *   moment the entry is ours.
 * - pooled (Deployment): runs up to MAX_CONCURRENT_JOBS jobs at once until drained; SIGTERM drains too.
 *   A read already waiting when the drain begins (it blocks for at most a second) may still hand over
 *   one more job: it is run, and the drain waits for it.
 * - direct (a Job the API created): takes over the entry of RAIBID_JOB_ID (XCLAIM), runs it, exits 0.
 *
 * Every agent heartbeats (raibid:agent:<consumer>, every third of RAIBID_HEARTBEAT_SECONDS) with its pool, mode,
 * slots and current jobs, so the API lists it and its reaper knows it is alive; listens for cancel
 * requests; retries Redis with backoff at start (a new pod's NetworkPolicy may take a moment). SIGTERM
 * to a one-shot agent stops its step and exits without acknowledging: the reaper re-queues the job.
 */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { GiteaClient } from '../../gitea/client.js';
import { CANCEL_CHANNEL } from '../../jobs/keys.js';
import { connectRedis, entryJob, JobStore, type AgentInfo } from '../../jobs/store.js';
import type { CliIo } from '../../cli/main.js';
import { VERSION } from '../../cli/version.js';
import { AgentStartupError, loadAgentConfig, type AgentConfig } from './config.js';
import { serveHealth } from './health.js';
import { runJob, type JobContext } from './job.js';
import { Masker } from './mask.js';
import { onPath } from './process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runAgent(io: CliIo): Promise<number> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig(io.env);
  } catch (e) {
    if (e instanceof AgentStartupError) {
      io.err(e.message);
      return 2;
    }
    throw e;
  }
  const log = pino({ level: io.env.LOG_LEVEL ?? 'info', base: { component: 'raibid-agent', pool: config.pool, agent: config.consumer } }, pino.destination(2));
  return new Agent(config, log).run();
}

class Agent {
  private readonly redis: Redis;
  private readonly store: JobStore;
  private readonly running = new Map<string, Promise<unknown>>();
  /** Checkout folders by slot: a job reuses its slot's path, so the compiler cache recognises it. */
  private readonly freeSlots: number[] = [];
  private readonly cancels = new Map<string, (by: string) => void>();
  private readonly shutdown = new AbortController();
  private draining = false;
  private claimed = false;
  private healthy = true;
  private readonly startedAt = Date.now();
  private server: Server | undefined;
  private reader: Redis | undefined;
  private subscriber: Redis | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: pino.Logger,
  ) {
    this.redis = connectRedis(config.redis);
    this.redis.on('error', () => undefined);
    this.store = new JobStore(this.redis, { retentionSeconds: config.retentionSeconds });
    for (let i = 0; i < config.slots; i++) this.freeSlots.push(i);
  }

  async run(): Promise<number> {
    const c = this.config;
    this.server = await serveHealth(c.healthPort, {
      ready: () => this.healthy && !this.draining,
      claimed: () => this.claimed,
      drain: () => this.drain(),
    });
    const onTerm = (signal: string) => {
      this.log.info({ signal }, c.mode === 'pooled' ? 'draining' : 'stopping');
      if (c.mode === 'pooled') void this.drain();
      else this.shutdown.abort();
    };
    process.on('SIGTERM', () => onTerm('SIGTERM'));
    process.on('SIGINT', () => onTerm('SIGINT'));

    await this.waitForRedis();
    this.reader = this.redis.duplicate();
    this.reader.on('error', () => undefined);
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    this.subscriber.on('message', (_ch, id: string) => void this.cancelRequested(id));
    await this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(this.config.heartbeatTtlMs / 3)));
    this.log.info({ mode: c.mode, slots: c.slots, stream: c.stream, group: c.group, version: VERSION }, 'agent started');

    let code = 0;
    try {
      if (c.mode === 'pooled') await this.pooled();
      else if (c.mode === 'direct') code = await this.direct();
      else await this.ephemeral();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'agent failed');
      code = 1;
    }
    return this.exit(code);
  }

  private async waitForRedis(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.redis.ping();
        return;
      } catch (e) {
        if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: (e as Error).message, attempt }, 'waiting for Redis');
        if (this.shutdown.signal.aborted) throw new Error('stopped while waiting for Redis');
        await sleep(Math.min(250 * 2 ** Math.min(attempt, 5), 5_000) + Math.random() * 250);
      }
    }
  }

  private info(): AgentInfo {
    const busy = this.running.size;
    return {
      name: this.config.consumer,
      pool: this.config.pool,
      mode: this.config.mode,
      slots: this.config.slots,
      busy,
      jobs: [...this.running.keys()],
      state: this.draining ? 'draining' : busy > 0 ? 'busy' : 'idle',
      startedAt: this.startedAt,
      lastSeen: Date.now(),
      version: VERSION,
    };
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.store.heartbeat(this.info(), this.config.heartbeatTtlMs);
      this.healthy = true;
      // A cancel published while the subscriber was reconnecting is still in the record.
      for (const id of this.running.keys()) {
        const r = await this.store.get(id);
        if (r?.cancelRequested) this.cancels.get(id)?.(r.cancelRequested);
      }
    } catch (e) {
      this.healthy = false;
      this.log.warn({ err: (e as Error).message }, 'heartbeat failed');
    }
  }

  private context(): JobContext {
    return {
      config: this.config,
      store: this.store,
      gitea: new GiteaClient({ url: this.config.gitea.url, token: this.config.gitea.token }),
      log: this.log,
      masker: Masker.fromEnv(this.config.env, [this.config.gitea.token, this.config.redis.password ?? '']).withBasicAuth(this.config.gitea.user, this.config.gitea.token),
      onCancel: (id, cancel) => {
        this.cancels.set(id, cancel);
        return () => this.cancels.delete(id);
      },
    };
  }

  private async cancelRequested(id: string): Promise<void> {
    const cancel = this.cancels.get(id);
    if (!cancel) return;
    const r = await this.store.get(id).catch(() => undefined);
    this.log.info({ job: id, by: r?.cancelRequested }, 'cancel requested');
    cancel(r?.cancelRequested ?? 'a user');
  }

  /** Reads one new entry, blocking up to `blockMs`. */
  private async read(blockMs: number): Promise<{ entry: string; job?: string } | undefined> {
    const res = (await this.reader!.xreadgroup('GROUP', this.config.group, this.config.consumer, 'COUNT', 1, 'BLOCK', Math.max(1, blockMs), 'STREAMS', this.config.stream, '>')) as [string, [string, string[]][]][] | null;
    const e = res?.[0]?.[1]?.[0];
    if (!e) return undefined;
    return { entry: e[0], job: entryJob(e[1]).job };
  }

  private async runEntry(entry: string, job: string | undefined): Promise<void> {
    if (!job) {
      await this.store.ack(this.config.stream, this.config.group, entry);
      return;
    }
    const slot = this.freeSlots.shift() ?? this.running.size;
    const p = runJob(this.context(), job, entry, this.shutdown.signal, join(this.config.workspace, `slot-${slot}`)).catch((e) => this.log.error({ job, err: (e as Error).message }, 'job crashed'));
    this.running.set(job, p);
    void this.heartbeat();
    try {
      await p;
    } finally {
      this.running.delete(job);
      this.freeSlots.push(slot);
      this.freeSlots.sort((a, b) => a - b);
      void this.heartbeat();
    }
  }

  private async ephemeral(): Promise<void> {
    const until = Date.now() + this.config.idleExitSeconds * 1000;
    while (!this.shutdown.signal.aborted) {
      const left = until - Date.now();
      if (left <= 0) {
        this.log.info({ idleExitSeconds: this.config.idleExitSeconds }, 'no job arrived; exiting');
        return;
      }
      const got = await this.read(Math.min(left, 2000));
      if (!got) continue;
      this.claimed = true;
      await this.runEntry(got.entry, got.job);
      return;
    }
  }

  private async direct(): Promise<number> {
    const id = this.config.jobId!;
    const record = await this.store.get(id);
    if (!record?.entry) {
      this.log.warn({ job: id }, 'job is unknown or has no queue entry; nothing to do');
      return 0;
    }
    const claimed = (await this.redis.xclaim(this.config.stream, this.config.group, this.config.consumer, 0, record.entry)) as [string, string[]][];
    if (!claimed.length || !claimed[0]) {
      this.log.warn({ job: id, entry: record.entry }, 'the job\'s entry is gone (already done); nothing to do');
      return 0;
    }
    this.claimed = true;
    await this.runEntry(record.entry, entryJob(claimed[0][1] ?? []).job ?? id);
    return 0;
  }

  private async pooled(): Promise<void> {
    const slots = this.config.slots;
    const waiting = new Set<Promise<void>>();
    while (!this.draining && !this.shutdown.signal.aborted) {
      if (this.running.size >= slots) {
        await Promise.race([...waiting, sleep(1000)]);
        continue;
      }
      const got = await this.read(1000).catch((e: Error) => {
        this.log.warn({ err: e.message }, 'reading the stream failed');
        return sleep(1000).then(() => undefined);
      });
      if (!got || this.draining) {
        if (got) await this.runEntry(got.entry, got.job); // taken just as the drain began: run it
        continue;
      }
      const p = this.runEntry(got.entry, got.job).finally(() => waiting.delete(p));
      waiting.add(p);
    }
    await Promise.all(this.running.values());
  }

  /** Stops taking jobs; resolves when the running ones have finished. */
  private async drain(): Promise<void> {
    this.draining = true;
    void this.heartbeat();
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  private async exit(code: number): Promise<number> {
    clearInterval(this.heartbeatTimer);
    try {
      await this.store.forgetAgent(this.config.consumer);
      // A one-shot agent's consumer has nothing pending now (or the reaper takes it over): remove it.
      if (this.config.mode !== 'pooled' && !this.shutdown.signal.aborted) await this.redis.xgroup('DELCONSUMER', this.config.stream, this.config.group, this.config.consumer).catch(() => undefined);
    } catch {
      // Redis is gone: the heartbeat expires by itself.
    }
    // The sccache server the jobs started (job.ts) goes with the agent.
    if (onPath('sccache', this.config.env)) await new Promise((resolve) => execFile('sccache', ['--stop-server'], { env: this.config.env, timeout: 10_000 }, resolve));
    this.subscriber?.disconnect();
    this.reader?.disconnect();
    await this.redis.quit().catch(() => undefined);
    this.server?.close();
    return code;
  }
}
