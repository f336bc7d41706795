/**
 * Runs one job on an agent, from its queue entry to the acknowledgement:
 *
 *  1. moves the job to `running` (a job cancelled while queued is skipped and its entry acknowledged);
 *  2. sets the commit status to pending ("running on <agent>");
 *  3. checks out the commit (checkout.ts), plans the steps (plan.ts) and runs them one by one
 *     (process.ts), streaming their output to the job's log (job-log.ts) and writing each step's result
 *     into the record as it ends;
 *  4. writes the final state (record, then commit status), publishes it, and only then acknowledges
 *     the entry. An agent that stops before that leaves the entry to the API's reaper.
 *
 * The job timeout, step timeouts and a cancel all stop the running step's process group (SIGTERM,
 * then SIGKILL after the grace period).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GiteaClient } from '../../gitea/client.js';
import type { JobRecord, JobStatus, StepResult, CacheStats, PushedImage } from '../../jobs/record.js';
import { commitStatus } from '../../jobs/status.js';
import type { JobStore } from '../../jobs/store.js';
import { AGENT_ENV } from '../contract.js';
import { checkout } from './checkout.js';
import { PLATFORM_SECRET_ENV, type AgentConfig } from './config.js';
import { buildctlCommand, dockerConfig, readDigest } from './image.js';
import { JobLog } from './job-log.js';
import type { Masker } from './mask.js';
import { planJob, type PlannedStep } from './plan.js';
import { onPath, runProcess, type StepOutcome } from './process.js';

export interface JobContext {
  readonly config: AgentConfig;
  readonly store: JobStore;
  readonly gitea: GiteaClient;
  readonly log: Logger;
  readonly masker: Masker;
  /** Called with a job's id and the function that cancels it; returns the unregister function. */
  readonly onCancel: (id: string, cancel: (by: string) => void) => () => void;
}

/** `done`: ended and acknowledged; `skipped`: not run (cancelled while queued); `abandoned`: the agent is stopping, the reaper takes over. */
export type JobOutcome = 'done' | 'skipped' | 'abandoned';

/** Environment of a step: the agent's minus its credentials, plus CI facts, the pipeline's and the step's. */
export function stepEnv(config: AgentConfig, record: JobRecord, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const drop = new Set<string>([...PLATFORM_SECRET_ENV, AGENT_ENV.redisUrl, AGENT_ENV.redisUsername, AGENT_ENV.redisPassword]);
  for (const [k, v] of Object.entries(config.env)) if (!drop.has(k)) env[k] = v;
  Object.assign(env, {
    CI: 'true',
    RAIBID_CI: 'true',
    RAIBID_JOB: record.id,
    RAIBID_REPO: record.repo,
    RAIBID_REF: record.ref,
    RAIBID_SHA: record.sha,
    RAIBID_EVENT: record.event,
    RAIBID_ATTEMPT: String(record.attempt),
  });
  if (onPath('sccache', env)) Object.assign(env, { RUSTC_WRAPPER: 'sccache', CARGO_INCREMENTAL: '0' });
  return { ...env, ...extra };
}

/** Runs sccache's client with the job's environment; resolves with its stdout, or undefined when it failed. */
function sccache(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    // detached: the server it may start stays out of every step's process group (those are killed after
    // each step), and keeps the pool's cache statistics for the whole job.
    const child = spawn('sccache', args, { cwd, env: { ...env, SCCACHE_IDLE_TIMEOUT: '0' }, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? out : undefined);
    });
  });
}

/** sccache's hit and miss counts, summed over languages; undefined without sccache. */
async function sccacheStats(env: NodeJS.ProcessEnv, cwd: string): Promise<{ hits: number; misses: number } | undefined> {
  if (env.RUSTC_WRAPPER !== 'sccache') return undefined;
  const out = await sccache(['--show-stats', '--stats-format=json'], env, cwd);
  if (out === undefined) return undefined;
  try {
    const s = (JSON.parse(out) as { stats?: { cache_hits?: { counts?: Record<string, number> }; cache_misses?: { counts?: Record<string, number> } } }).stats;
    const sum = (m?: Record<string, number>) => Object.values(m ?? {}).reduce((a, b) => a + b, 0);
    return { hits: sum(s?.cache_hits?.counts), misses: sum(s?.cache_misses?.counts) };
  } catch {
    return undefined;
  }
}

function stepResult(name: string, o: StepOutcome, label?: string): StepResult {
  if (o.spawnError) return { name, status: 'error', exitCode: null, durationMs: o.durationMs, reason: o.spawnError };
  if (o.cancelled) return { name, status: 'cancelled', exitCode: o.exitCode, durationMs: o.durationMs, reason: label };
  if (o.timedOut) return { name, status: 'timeout', exitCode: o.exitCode, durationMs: o.durationMs, reason: label };
  return { name, status: o.exitCode === 0 ? 'success' : 'failure', exitCode: o.exitCode, durationMs: o.durationMs, ...(o.signal ? { reason: `killed by ${o.signal}` } : {}) };
}

/**
 * Runs one job. `dir` is the checkout folder: the same path for every job of an agent slot (sccache keys
 * compilations by their folder, so a per-job path would never hit the cache); it is emptied first.
 */
export async function runJob(ctx: JobContext, id: string, entry: string, shutdown: AbortSignal, dir = join(ctx.config.workspace, 'slot-0')): Promise<JobOutcome> {
  const { config, store, log } = ctx;
  if ((await store.start(id, config.consumer, entry)) === 'skip') {
    await store.ack(config.stream, config.group, entry);
    log.info({ job: id, entry }, 'job was cancelled or is gone; entry acknowledged without running it');
    return 'skipped';
  }
  let record = (await store.get(id))!;
  const jobLog = new JobLog(store, id, ctx.masker);
  const report = async (r: JobRecord) => {
    try {
      await ctx.gitea.setStatus(r.repo, r.sha, commitStatus(r, config.publicUrl));
    } catch (e) {
      log.warn({ job: id, err: (e as Error).message }, 'could not set the commit status');
    }
  };
  // Not awaited, so a slow Gitea never delays the build; the final status waits for it (below), so
  // the pending one can never arrive last.
  const started = report(record);

  // Stopping: a cancel from the API, the job's own deadline, or the agent shutting down.
  const stop = new AbortController();
  let cancelledBy: string | undefined;
  let jobTimedOut = false;
  const unregister = ctx.onCancel(id, (by) => {
    cancelledBy ??= by;
    stop.abort();
  });
  if (record.cancelRequested) {
    cancelledBy = record.cancelRequested;
    stop.abort();
  }
  const onShutdown = () => stop.abort();
  shutdown.addEventListener('abort', onShutdown, { once: true });
  const deadline = Date.now() + config.jobTimeoutSeconds * 1000;
  let deadlineTimer = setTimeout(() => {
    jobTimedOut = true;
    stop.abort();
  }, config.jobTimeoutSeconds * 1000);

  rmSync(dir, { recursive: true, force: true });
  const steps: StepResult[] = [];
  let reason: string | undefined;
  let cache: CacheStats | undefined;
  let image: PushedImage | undefined;
  let status: JobStatus = 'success';
  const saveSteps = () => store.transition(id, 'running', { steps }, ['running']).catch((e) => log.warn({ job: id, err: (e as Error).message }, 'could not save step results'));

  try {
    jobLog.marker('info', '', `agent ${config.consumer} (pool ${config.pool}) runs ${record.repo}@${record.sha.slice(0, 12)} (${record.ref}), attempt ${record.attempt}`);
    jobLog.marker('step', 'checkout', `${record.repo} at ${record.sha}`);
    const co = await checkout({
      giteaUrl: config.gitea.url,
      user: config.gitea.user,
      token: config.gitea.token,
      repo: record.repo,
      sha: record.sha,
      ref: record.ref,
      dir,
      env: stepEnv(config, record, {}),
      signal: stop.signal,
      timeoutMs: Math.max(1, deadline - Date.now()),
      graceMs: config.killGraceMs,
      onLine: (l) => jobLog.line('checkout', l),
    });
    steps.push(stepResult('checkout', co));
    jobLog.marker('result', 'checkout', `${steps[0].status} in ${co.durationMs} ms`);
    await saveSteps();
    if (steps[0].status !== 'success') {
      status = 'error';
      reason = `checkout of ${record.sha.slice(0, 12)} failed${co.exitCode !== null ? ` (git exit ${co.exitCode})` : ''}`;
    } else {
      const baseEnv = stepEnv(config, record, {});
      const planned = planJob(dir, { has: (p) => onPath(p, baseEnv), buildImages: true });
      if (!planned.ok) {
        status = 'error';
        reason = planned.reason;
        jobLog.marker('info', '', reason);
      } else {
        const plan = planned.plan;
        jobLog.marker('info', '', `pipeline: ${plan.source}: ${plan.steps.map((s) => s.name).join(', ')}`);
        if (plan.timeoutMs !== undefined && Date.now() + plan.timeoutMs < deadline) {
          clearTimeout(deadlineTimer);
          deadlineTimer = setTimeout(() => {
            jobTimedOut = true;
            stop.abort();
          }, plan.timeoutMs);
        }
        const env = stepEnv(config, record, plan.env);
        // Start the agent's sccache server outside the steps and count this job's hits from zero. (The
        // counters belong to the agent's server: a pooled agent's concurrent jobs share them.)
        if (env.RUSTC_WRAPPER === 'sccache') await sccache(['--zero-stats'], env, dir);
        let failed = false;
        for (const s of plan.steps) {
          const result = await runStep(ctx, s, { dir, env, record, jobLog, stop: stop.signal, failed, deadline });
          // The job's deadline stops a step the way a cancel does; it is a timeout all the same.
          steps.push(jobTimedOut && result.step.status === 'cancelled' ? { ...result.step, status: 'timeout', reason: 'job timed out' } : result.step);
          if (result.image) image = result.image;
          await saveSteps();
          if (['failure', 'timeout', 'error', 'cancelled'].includes(result.step.status)) failed = true;
          if (stop.signal.aborted && !s.always) break;
        }
        const stats = await sccacheStats(env, dir);
        if (stats) cache = { ...stats, hitRate: stats.hits + stats.misses > 0 ? stats.hits / (stats.hits + stats.misses) : null };
        if (failed) status = 'failure';
      }
    }
  } catch (e) {
    status = 'error';
    reason = `agent error: ${(e as Error).message}`;
    log.error({ job: id, err: (e as Error).message }, 'job failed on the agent');
  } finally {
    clearTimeout(deadlineTimer);
    unregister();
    shutdown.removeEventListener('abort', onShutdown);
  }

  if (shutdown.aborted && !cancelledBy && !jobTimedOut) {
    // The pod is going away (eviction, deadline): the reaper re-queues the job once our heartbeat lapses.
    jobLog.marker('info', '', `agent ${config.consumer} is stopping; the job goes back to the queue`);
    await jobLog.flush();
    rmSync(dir, { recursive: true, force: true });
    return 'abandoned';
  }
  if (cancelledBy) {
    status = 'cancelled';
    reason = `cancelled by ${cancelledBy}`;
  } else if (jobTimedOut) {
    status = 'failure';
    reason = `timed out after ${Math.round((Date.now() - (record.startedAt ?? Date.now())) / 1000)} s (job timeout)`;
  }
  if (jobLog.failed) reason = `${reason ? `${reason}; ` : ''}part of the log was lost (${jobLog.failed.message})`;
  jobLog.marker('info', '', `job ${status}${reason ? `: ${reason}` : ''}`);
  await jobLog.flush();

  const t = await store.transition(id, status, { steps, reason, cache, image }, ['running']);
  record = (await store.get(id)) ?? record;
  await started;
  if (t.ok) {
    await report(record);
    await store.publishFinished({ id, pool: record.pool, status, durationMs: (record.finishedAt ?? Date.now()) - (record.startedAt ?? Date.now()) });
  }
  await store.ack(config.stream, config.group, entry);
  rmSync(dir, { recursive: true, force: true });
  log.info({ job: id, status, reason }, 'job ended');
  return 'done';
}

interface StepContext {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly record: JobRecord;
  readonly jobLog: JobLog;
  readonly stop: AbortSignal;
  readonly failed: boolean;
  readonly deadline: number;
}

async function runStep(ctx: JobContext, s: PlannedStep, c: StepContext): Promise<{ step: StepResult; image?: PushedImage }> {
  const { config } = ctx;
  const skip = (why: string) => {
    c.jobLog.marker('result', s.name, `skipped: ${why}`);
    return { step: { name: s.name, status: 'skipped' as const, exitCode: null, durationMs: 0, reason: why } };
  };
  if (c.failed && !s.always) return skip('an earlier step failed');
  if (c.stop.aborted && !s.always) return skip('the job is stopping');
  const missing = s.requires.filter((p) => !onPath(p, c.env));
  if (missing.length) return skip(`${missing.join(', ')} not installed in this agent image`);
  if (s.image && (!config.buildkit || !config.registryHost)) return skip('no BuildKit daemon (BUILDKIT_HOST) or registry (REGISTRY_HOST) configured for this pool');

  const timeoutMs = Math.max(1, Math.min(s.timeoutMs ?? Infinity, c.deadline - Date.now()));
  const run = (command: string, env: NodeJS.ProcessEnv) =>
    runProcess({ command, cwd: c.dir, env, timeoutMs, graceMs: config.killGraceMs, signal: c.stop, onLine: (l) => c.jobLog.line(s.name, l), onLines: (ls) => c.jobLog.append(s.name, ls), backpressure: { full: () => c.jobLog.full, whenRoom: () => c.jobLog.whenRoom() } });

  if (s.image) {
    const branch = c.record.ref.startsWith('refs/heads/') ? c.record.ref.slice('refs/heads/'.length) : undefined;
    const metadata = join(c.dir, '..', `${c.record.id}.buildctl-metadata.json`);
    const { command, refs } = buildctlCommand(
      { registryHost: config.registryHost!, repo: c.record.repo, sha: c.record.sha, branch, dockerfile: s.image.dockerfile, context: s.image.context, push: s.image.push, cacheImport: config.buildkit!.cacheImport, cacheExport: config.buildkit!.cacheExport, insecure: /registry\.insecure=true/.test(config.buildkit!.cacheImport ?? '') },
      metadata,
    );
    const docker = dockerConfig(config.registryHost!, config.gitea.user, config.gitea.token);
    c.jobLog.marker('step', s.name, `build ${refs.join(', ')}${s.image.push ? ' and push' : ''}`);
    try {
      const o = await run(command, { ...c.env, ...s.env, BUILDKIT_HOST: config.buildkit!.host, DOCKER_CONFIG: docker.dir });
      const step = stepResult(s.name, o, o.timedOut ? 'step timed out' : undefined);
      c.jobLog.marker('result', s.name, `${step.status}${step.exitCode !== null ? ` (exit ${step.exitCode})` : ''} in ${o.durationMs} ms`);
      const digest = readDigest(metadata);
      rmSync(metadata, { force: true });
      return { step, image: step.status === 'success' && s.image.push ? { ref: refs[0], digest, tags: refs.map((r) => r.slice(r.lastIndexOf(':') + 1)) } : undefined };
    } finally {
      docker.dispose();
    }
  }

  c.jobLog.marker('step', s.name, `$ ${s.command}`);
  const o = await run(s.command, { ...c.env, ...s.env });
  const step = stepResult(s.name, o, o.timedOut ? (s.timeoutMs !== undefined && s.timeoutMs <= c.deadline - Date.now() + o.durationMs ? 'step timed out' : 'job timed out') : undefined);
  c.jobLog.marker('result', s.name, `${step.status}${step.exitCode !== null ? ` (exit ${step.exitCode})` : ''} in ${o.durationMs} ms`);
  return { step };
}
