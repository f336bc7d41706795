/**
 * The job commands: scriptable, one line on errors, `--json` for scripts and a table for people.
 *
 *   raibid jobs [--status S] [--repo OWNER/NAME] [--ref REF] [--pool P] [--limit N] [--json]
 *   raibid jobs show ID [--json]
 *   raibid logs ID [-f]
 *   raibid cancel ID | raibid retry ID
 *   raibid run REPO [--ref REF | --sha SHA] [--pool POOL]
 *   raibid watch ID [--exit-status] [--interval SECONDS]
 *   raibid status [--json]
 *
 * Exit codes: 0 done; 1 the API refused or could not be reached (or, for `watch --exit-status`, the
 * job did not succeed); 2 a mistake in the command line or the CLI's settings.
 */
import { JOB_ID_PATTERN, JOB_STATUSES, type JobStatus } from '../jobs/record.js';
import { parse, UsageError, type ParsedArgs } from './args.js';
import { ApiClient, ApiClientError, logLines, type ApiCluster, type ApiJob, type TriggerResponse } from './client.js';
import { apiTargetOf } from './config.js';
import { branchOf, cacheLine, ENDED, formatAgo, formatDuration, jobDurationMs, statusSymbol, stepLine, table } from './format.js';
import type { CliIo } from './main.js';

const API_OPTIONS = { api: { type: 'string' }, token: { type: 'string' } } as const;
const CONNECTION_HELP = `Connection (every command):
  --api URL       the API (default: $RAIBID_API_URL, else "api:" in ~/.config/raibid/config.yaml)
  --token TOKEN   bearer token (default: $RAIBID_TOKEN, else "token:" in the config file, mode 0600)
  -h, --help      this help`;

export const JOB_HELP: Record<string, string> = {
  jobs: `Usage: raibid jobs [--status S] [--repo OWNER/NAME] [--ref REF] [--pool P] [--limit N] [--json]
       raibid jobs show ID [--json]

Lists jobs, newest first, or shows one job: its steps, cache hit rate, pushed image, and why it is
not running yet when queued.

Options:
  --status S      one of ${JOB_STATUSES.join(', ')}
  --repo R        owner/name
  --ref REF       branch, tag or full ref
  --pool P        pool name
  --limit N       most jobs to list (default 20; more than 200 pages through the API)
  --json          the API's JSON ({jobs, next}; one job for "show")

${CONNECTION_HELP}`,
  logs: `Usage: raibid logs ID [-f]

Prints a job's log. With -f, follows it live until the job ends (Server-Sent Events; a dropped
connection resumes where it stopped).

Options:
  -f, --follow    follow the log until the job ends

${CONNECTION_HELP}`,
  cancel: `Usage: raibid cancel ID [--json]

Cancels a job: a queued one at once, a running one through its agent (within a few seconds). A job
that has ended cannot be cancelled (exit 1). Needs the admin token.

Options:
  --json          the job as the API answers

${CONNECTION_HELP}`,
  retry: `Usage: raibid retry ID [--json]

Runs an ended job again as a new job (event "retry"). Needs the admin token.

Options:
  --json          the API's answer ({queued, id, pool, url})

${CONNECTION_HELP}`,
  run: `Usage: raibid run OWNER/NAME [--ref REF | --sha SHA] [--pool POOL] [--json]

Queues a job for a repository at a branch, tag or commit (default: its default branch). Exit 1 when
nothing was queued, with the reason. Needs the admin token.

Options:
  --ref REF       branch, tag or full ref
  --sha SHA       a commit (instead of --ref)
  --pool POOL     pool (default: the pipeline file's, else the default pool)
  --json          the API's answer ({queued, id, pool, url, reason})

${CONNECTION_HELP}`,
  watch: `Usage: raibid watch ID [--exit-status] [--interval SECONDS]

Follows a job until it ends, its step list updating in place (one line per change when the output is
not a terminal), like "gh run watch".

Options:
  --exit-status        exit 0 when the job succeeded, 1 otherwise (default: 0 once it ended)
  --interval SECONDS   seconds between refreshes (default 1)

${CONNECTION_HELP}`,
  status: `Usage: raibid status [--json]

The pools (queued, delivered, running, dead letters, agents) and the agents with a live heartbeat.

Options:
  --json          {pools, agents} as the API answers

${CONNECTION_HELP}`,
};

export const JOB_COMMANDS = Object.keys(JOB_HELP);

function clientFor(a: ParsedArgs, io: CliIo): ApiClient {
  const t = apiTargetOf(a.values, io.env);
  return new ApiClient({ url: t.url, token: t.token });
}

function jobId(value: string | undefined, command: string): string {
  if (value === undefined) throw new UsageError(`raibid ${command} needs a job ID; run "raibid ${command} --help"`);
  if (!JOB_ID_PATTERN.test(value)) throw new UsageError(`${JSON.stringify(value)} is not a job ID (15 lowercase letters and digits, as "raibid jobs" lists them)`);
  return value;
}

function noMore(a: ParsedArgs, command: string, take: number): void {
  if (a.positionals.length > take) throw new UsageError(`raibid ${command}: unexpected argument ${JSON.stringify(a.positionals[take])}`);
}

const json = (io: CliIo, v: unknown) => io.out(JSON.stringify(v, null, 2));

/** Runs a job command; resolves with the exit code. API errors are one line and exit 1. */
export async function runJobCommand(command: string, rest: readonly string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  switch (command) {
    case 'jobs': {
      const a = parse(rest, { ...API_OPTIONS, status: { type: 'string' }, repo: { type: 'string' }, ref: { type: 'string' }, pool: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } });
      if (a.values.help) return io.out(JOB_HELP.jobs), 0;
      if (a.positionals[0] === 'show') {
        noMore(a, 'jobs show', 2);
        const id = jobId(a.positionals[1], 'jobs show');
        const job = await clientFor(a, io).job(id);
        if (a.values.json) json(io, job);
        else for (const l of jobDetail(job, now())) io.out(l);
        return 0;
      }
      noMore(a, 'jobs', 0);
      const status = a.values.status as string | undefined;
      if (status !== undefined && !(JOB_STATUSES as readonly string[]).includes(status)) throw new UsageError(`--status: expected one of ${JOB_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
      const repo = a.values.repo as string | undefined;
      if (repo !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(repo)) throw new UsageError(`--repo: expected owner/name, got ${JSON.stringify(repo)}`);
      const limitText = (a.values.limit as string | undefined) ?? '20';
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 10_000) throw new UsageError(`--limit: expected a whole number from 1 to 10000, got ${JSON.stringify(limitText)}`);
      const page = await clientFor(a, io).jobsUpTo({ status: status as JobStatus | undefined, repo, ref: a.values.ref as string | undefined, pool: a.values.pool as string | undefined }, limit);
      if (a.values.json) return json(io, page), 0;
      if (page.jobs.length === 0) return io.out('no jobs'), 0;
      for (const l of jobsTable(page.jobs, now())) io.out(l);
      if (page.next) io.out(`(more: raise --limit, or filter with --status, --repo, --pool)`);
      return 0;
    }
    case 'logs': {
      const a = parse(rest, { ...API_OPTIONS, follow: { type: 'boolean', short: 'f' } });
      if (a.values.help) return io.out(JOB_HELP.logs), 0;
      noMore(a, 'logs', 1);
      const id = jobId(a.positionals[0], 'logs');
      const client = clientFor(a, io);
      if (!a.values.follow) {
        const text = await client.logText(id);
        for (const l of text.replace(/\n$/, '').split('\n')) if (text !== '') io.out(l);
        return 0;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      try {
        for await (const e of client.followLog(id, { signal: stop.signal })) for (const l of logLines(e)) io.out(l);
      } finally {
        process.off('SIGINT', onSignal);
      }
      // Ctrl+C stops following (the job goes on): 130, as a shell reports an interrupted command.
      return stop.signal.aborted ? 130 : 0;
    }
    case 'cancel': {
      const a = parse(rest, { ...API_OPTIONS, json: { type: 'boolean' } });
      if (a.values.help) return io.out(JOB_HELP.cancel), 0;
      noMore(a, 'cancel', 1);
      const id = jobId(a.positionals[0], 'cancel');
      const r = await clientFor(a, io).cancel(id);
      if (a.values.json) return json(io, r.job), 0;
      io.out(r.outcome === 'cancelled' ? `cancelled job ${id} (it was queued)` : `cancel requested: job ${id} is running on ${r.job.agent ?? 'an agent'}, which stops it within a few seconds`);
      return 0;
    }
    case 'retry': {
      const a = parse(rest, { ...API_OPTIONS, json: { type: 'boolean' } });
      if (a.values.help) return io.out(JOB_HELP.retry), 0;
      noMore(a, 'retry', 1);
      const id = jobId(a.positionals[0], 'retry');
      return triggered(await clientFor(a, io).retry(id), io, Boolean(a.values.json), ` (retry of ${id})`);
    }
    case 'run': {
      const a = parse(rest, { ...API_OPTIONS, ref: { type: 'string' }, sha: { type: 'string' }, pool: { type: 'string' }, json: { type: 'boolean' } });
      if (a.values.help) return io.out(JOB_HELP.run), 0;
      noMore(a, 'run', 1);
      const repo = a.positionals[0];
      if (repo === undefined) throw new UsageError('raibid run needs a repository (owner/name); run "raibid run --help"');
      if (!/^[^/\s]+\/[^/\s]+$/.test(repo)) throw new UsageError(`expected a repository as owner/name, got ${JSON.stringify(repo)}`);
      const { ref, sha, pool } = a.values as { ref?: string; sha?: string; pool?: string };
      if (ref !== undefined && sha !== undefined) throw new UsageError('give --ref or --sha, not both');
      if (sha !== undefined && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) throw new UsageError(`--sha: expected a full commit SHA (40 hex digits), got ${JSON.stringify(sha)}`);
      return triggered(await clientFor(a, io).run({ repo, ref, sha, pool }), io, Boolean(a.values.json), '');
    }
    case 'watch': {
      const a = parse(rest, { ...API_OPTIONS, 'exit-status': { type: 'boolean' }, interval: { type: 'string' } });
      if (a.values.help) return io.out(JOB_HELP.watch), 0;
      noMore(a, 'watch', 1);
      const id = jobId(a.positionals[0], 'watch');
      const intervalText = (a.values.interval as string | undefined) ?? '1';
      const interval = Number(intervalText);
      if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) throw new UsageError(`--interval: expected seconds from 0.1 to 3600, got ${JSON.stringify(intervalText)}`);
      const job = await watch(clientFor(a, io), id, io, interval * 1000, now);
      return a.values['exit-status'] && job.status !== 'success' ? 1 : 0;
    }
    case 'status': {
      const a = parse(rest, { ...API_OPTIONS, json: { type: 'boolean' } });
      if (a.values.help) return io.out(JOB_HELP.status), 0;
      noMore(a, 'status', 0);
      const client = clientFor(a, io);
      const [pools, agents, cluster] = await Promise.all([client.pools(), client.agents(), client.cluster()]);
      if (a.values.json) return json(io, { cluster: cluster ?? null, pools, agents }), 0;
      for (const l of statusLines(pools, agents, now(), cluster)) io.out(l);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; run "raibid --help"`);
  }
}

function triggered(r: TriggerResponse, io: CliIo, asJson: boolean, what: string): number {
  if (asJson) json(io, r);
  if (r.queued) {
    if (!asJson) {
      io.out(`queued job ${r.id} on pool ${r.pool}${what}`);
      io.out(`follow it: raibid watch ${r.id}   log: raibid logs ${r.id} -f`);
    }
    return 0;
  }
  if (!asJson) io.err(r.id ? `raibid: job ${r.id} ended in error: ${r.reason ?? 'no reason given'}` : `raibid: nothing was queued: ${r.reason ?? 'no reason given'}`);
  return 1;
}

/** The jobs table of `raibid jobs`. */
export function jobsTable(jobs: readonly ApiJob[], now: number): string[] {
  return table(jobs, [
    { title: 'ID', value: (j) => j.id },
    { title: 'STATUS', value: (j) => `${statusSymbol(j.status)} ${j.status}` },
    { title: 'REPO', value: (j) => j.repo, max: 32 },
    { title: 'BRANCH', value: (j) => branchOf(j), max: 24 },
    { title: 'DURATION', value: (j) => formatDuration(jobDurationMs(j, now)), right: true },
    { title: 'AGENT', value: (j) => j.agent ?? '', max: 24 },
    { title: 'CREATED', value: (j) => formatAgo(j.createdAt, now) },
  ]);
}

/** `raibid jobs show`: one job in words. */
export function jobDetail(j: ApiJob, now: number): string[] {
  const out = [
    `job ${j.id}  ${statusSymbol(j.status)} ${j.status}  ${j.repo}  ${branchOf(j)} @ ${j.sha.slice(0, 7)}${j.title ? `  "${j.title}"` : ''}`,
    `event ${j.event}${j.actor ? ` by ${j.actor}` : ''}${j.pr ? ` (PR #${j.pr})` : ''} · pool ${j.pool} · attempt ${j.attempt}${j.agent ? ` · agent ${j.agent}` : ''}${j.retryOf ? ` · retry of ${j.retryOf}` : ''}`,
    `created ${new Date(j.createdAt).toISOString()}${j.startedAt ? ` · started ${formatAgo(j.startedAt, now)}` : ''}${j.startedAt ? ` · ${j.finishedAt ? 'took' : 'running for'} ${formatDuration(jobDurationMs(j, now))}` : ''}`,
  ];
  if (j.status === 'queued') out.push(`waiting: ${j.waiting ?? 'for an agent of pool ' + j.pool}`);
  if (j.cancelRequested) out.push(`cancel requested by ${j.cancelRequested}`);
  if (j.reason) out.push(`reason: ${j.reason}`);
  if (j.steps.length) {
    out.push('steps:');
    for (const s of j.steps) out.push(`  ${stepLine(s)}`);
  }
  const cache = cacheLine(j.cache);
  if (cache) out.push(`cache: ${cache}`);
  if (j.image) out.push(`image: ${j.image.ref}${j.image.digest ? `@${j.image.digest}` : ''}${j.image.tags.length ? ` (tags: ${j.image.tags.join(', ')})` : ''}`);
  if (j.url) out.push(`log: ${j.url}`);
  return out;
}

/** "cluster dgx-spark: cpu 3.2/18 cores, memory 41/110 GiB (in use/allocatable), agents 4 of 12 planned". */
export function clusterLine(c: ApiCluster): string {
  const cores = (m: number) => String(Math.round(m / 100) / 10);
  const gib = (b: number) => String(Math.round(b / 2 ** 29) / 2);
  const parts = [
    ...(c.node ? [`cpu ${c.node.cpu.usedMillis === null ? '?' : cores(c.node.cpu.usedMillis)}/${cores(c.node.cpu.allocatableMillis)} cores, memory ${gib(c.node.memory.usedBytes)}/${gib(c.node.memory.allocatableBytes)} GiB (in use/allocatable)`] : ['node figures unavailable']),
    `agents ${c.agents.running}${c.agents.planned === null ? '' : ` of ${c.agents.planned} planned`}`,
  ];
  return `cluster ${c.name ?? '(unnamed)'}: ${parts.join(', ')}`;
}

/** `raibid status`: the cluster, pools, agents, dead letters. */
export function statusLines(pools: Awaited<ReturnType<ApiClient['pools']>>, agents: Awaited<ReturnType<ApiClient['agents']>>, now: number, cluster?: ApiCluster): string[] {
  const out = cluster ? [clusterLine(cluster), ''] : [];
  out.push(...table(pools, [
    { title: 'POOL', value: (p) => p.name },
    { title: 'MODE', value: (p) => p.mode },
    { title: 'QUEUED', value: (p) => (p.lag === null ? '?' : String(p.lag)), right: true },
    { title: 'DELIVERED', value: (p) => String(p.pending), right: true },
    { title: 'RUNNING', value: (p) => String(p.running), right: true },
    { title: 'DEAD', value: (p) => String(p.dead), right: true },
    { title: 'AGENTS', value: (p) => String(p.agents), right: true },
    { title: 'PLAN', value: (p) => (p.planned === null || p.planned === undefined ? '-' : String(p.planned)), right: true },
  ]));
  out.push('');
  if (agents.length === 0) out.push('no agents running (ephemeral and direct pools start agents when jobs are queued)');
  else
    out.push(
      ...table(agents, [
        { title: 'AGENT', value: (a) => a.name, max: 40 },
        { title: 'POOL', value: (a) => a.pool },
        { title: 'MODE', value: (a) => a.mode },
        { title: 'STATE', value: (a) => a.state },
        { title: 'BUSY', value: (a) => `${a.busy}/${a.slots}`, right: true },
        { title: 'JOBS', value: (a) => a.jobs.join(' '), max: 48 },
        { title: 'LAST SEEN', value: (a) => formatAgo(a.lastSeen, now) },
      ]),
    );
  const dead = pools.filter((p) => p.dead > 0);
  out.push('');
  out.push(dead.length ? `dead letters: ${dead.map((p) => `${p.name} ${p.dead}`).join(', ')} (jobs whose agents kept dying: raibid jobs --status dead)` : 'dead letters: none');
  return out;
}

/** The block `watch` draws: the job's line, then one line per step. */
export function watchBlock(j: ApiJob, now: number): string[] {
  const head = `${statusSymbol(j.status)} job ${j.id}  ${j.repo}  ${branchOf(j)}  ${j.status}${j.startedAt ? `  ${formatDuration(jobDurationMs(j, now))}` : ''}${j.agent ? `  on ${j.agent}` : ''}`;
  const lines = [head];
  if (j.status === 'queued') lines.push(`  waiting: ${j.waiting ?? `for an agent of pool ${j.pool}`}`);
  for (const s of j.steps) lines.push(`  ${stepLine(s)}`);
  return lines;
}

const TRANSIENT = new Set(['unreachable', 'unavailable']);

/**
 * Follows a job until it ends. On a terminal, the block is redrawn in place (cursor up, clear to the
 * end of the screen: the only escape codes the job commands write); otherwise each change is one line.
 * A transient API failure is retried for up to a minute.
 */
async function watch(client: ApiClient, id: string, io: CliIo, intervalMs: number, now: () => number): Promise<ApiJob> {
  const tty = io.terminal?.stdout;
  let drawn = 0;
  let printed = new Set<string>();
  let failingSince: number | undefined;
  for (;;) {
    let job: ApiJob;
    try {
      job = await client.job(id);
      failingSince = undefined;
    } catch (e) {
      if (!(e instanceof ApiClientError) || !TRANSIENT.has(e.kind)) throw e;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > 60_000) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
      continue;
    }
    const ended = ENDED.includes(job.status);
    const block = watchBlock(job, now());
    if (tty) {
      const text = [...(ended ? [] : [`Refreshing every ${intervalMs / 1000}s (Ctrl+C stops watching, not the job)`]), ...block];
      tty.write(`${drawn ? `\x1b[${drawn}A\x1b[J` : ''}${text.join('\n')}\n`);
      drawn = text.length;
    } else {
      // One line per change: the job's status, and each step once it has a result.
      const keys = [`status ${job.status}`, ...job.steps.filter((s) => s.status !== 'running').map((s) => `step ${s.name} ${s.status}`)];
      const lines = [`${statusSymbol(job.status)} job ${job.id} ${job.status}${job.agent && job.status === 'running' ? ` on ${job.agent}` : ''}`, ...job.steps.filter((s) => s.status !== 'running').map((s) => `  ${stepLine(s)}`)];
      const next = new Set<string>();
      keys.forEach((k, i) => {
        next.add(k);
        if (!printed.has(k) && !(ended && i === 0)) io.out(lines[i]);
      });
      printed = next;
    }
    if (ended) {
      const took = job.startedAt ? ` in ${formatDuration(jobDurationMs(job, now()))}` : '';
      io.out(`${statusSymbol(job.status)} job ${job.id} ${job.status}${took}${job.reason && job.status !== 'success' ? `: ${job.reason}` : ''}`);
      return job;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
