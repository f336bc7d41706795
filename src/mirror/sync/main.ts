/**
 * `raibid mirror sync [--dry-run]`: reads its environment (contract.ts MIRROR_ENV) and settings file,
 * reconciles once (reconcile.ts), prints the plan or what it did on stdout, and logs as JSON on stderr.
 * Exit 0 when everything is as configured, 1 when anything failed, 2 for a configuration it cannot use.
 * Tokens never appear in the output.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parse } from 'yaml';
import { z } from 'zod';
import { MIRROR_ENV, mirrorSettingsSchema, type MirrorSettings } from '../contract.js';
import { GiteaClient } from '../../gitea/client.js';
import { VERSION } from '../../cli/version.js';
import { GitHubClient } from './github.js';
import { describeAction } from './plan.js';
import { failed, reconcile, type MirrorLog, type Report } from './reconcile.js';

export interface MirrorIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export interface MirrorRuntimeConfig {
  readonly settings: MirrorSettings;
  readonly gitea: { readonly url: string; readonly token: string };
  readonly githubToken?: string;
}

/** A configuration the reconciler cannot run with; one line per problem, naming the variable or key. */
export class MirrorStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`raibid mirror sync cannot start (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const envSchema = z.object({
  [MIRROR_ENV.settings]: z.string({ error: `${MIRROR_ENV.settings} is not set (path of the settings file)` }).min(1),
  [MIRROR_ENV.giteaUrl]: z.url({ protocol: /^https?$/, error: `${MIRROR_ENV.giteaUrl} must be an http(s) URL` }),
  [MIRROR_ENV.giteaToken]: z.string({ error: `${MIRROR_ENV.giteaToken} is not set` }).min(1, { error: `${MIRROR_ENV.giteaToken} is empty` }),
  [MIRROR_ENV.githubToken]: z.string().optional(),
});

/** Reads and checks the environment and the settings file; throws MirrorStartupError listing every problem. */
export function loadMirrorConfig(env: NodeJS.ProcessEnv): MirrorRuntimeConfig {
  const problems: string[] = [];
  const e = envSchema.safeParse(env);
  if (!e.success) for (const i of e.error.issues) problems.push(env[String(i.path[0])] === undefined ? `${String(i.path[0])} is not set` : i.message);
  let settings: MirrorSettings | undefined;
  const file = env[MIRROR_ENV.settings];
  if (file) {
    let raw: unknown;
    try {
      raw = parse(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      problems.push(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message.split('\n')[0]}`);
    }
    if (raw !== undefined) {
      const s = mirrorSettingsSchema.safeParse(raw);
      if (!s.success) for (const i of s.error.issues) problems.push(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
      else settings = s.data;
    }
  }
  if (problems.length > 0 || !e.success || !settings) throw new MirrorStartupError(problems);
  const token = e.data[MIRROR_ENV.githubToken]?.trim();
  return { settings, gitea: { url: e.data[MIRROR_ENV.giteaUrl], token: e.data[MIRROR_ENV.giteaToken] }, ...(token ? { githubToken: token } : {}) };
}

/** The plan or the run's outcome as lines for people. */
export function formatReport(r: Report): string[] {
  const lines: string[] = [r.dryRun ? 'mirror plan (dry run: nothing was written)' : 'mirror sync'];
  for (const org of r.plan.organisations) lines.push(`${(r.dryRun ? 'create' : r.organisationsCreated.includes(org) ? 'created' : 'failed').padEnd(10)}organisation ${org}`);
  for (const x of r.results) {
    const line = describeAction(x.action, !r.dryRun && x.ok);
    lines.push(x.ok || x.action.kind === 'conflict' ? line : `${'failed'.padEnd(10)}${line.slice(10)}: ${x.error}`);
  }
  for (const o of r.plan.orphans) lines.push(`${'orphaned'.padEnd(10)}${o.target.padEnd(32)} ← github.com/${o.github} (${o.reason}; never deleted)`);
  for (const f of r.failures) lines.push(`${'failed'.padEnd(10)}${f.subject}: ${f.message}`);
  const count = (k: string) => r.results.filter((x) => x.action.kind === k && x.ok).length;
  const failures = r.failures.length + r.results.filter((x) => !x.ok).length;
  const v = r.dryRun ? ['to create', 'to update'] : ['created', 'updated'];
  lines.push(`summary: ${count('create')} ${v[0]}, ${count('update')} ${v[1]}, ${count('unchanged')} unchanged, ${r.plan.orphans.length} orphaned, ${r.plan.skipped.length} left out by filters, ${failures} failed (${(r.durationMs / 1000).toFixed(1)} s, ${r.githubRequests} GitHub requests)`);
  return lines;
}

/** Runs one reconcile; resolves with the exit code. */
export async function runMirrorSync(io: MirrorIo, o: { dryRun: boolean }): Promise<number> {
  let config: MirrorRuntimeConfig;
  try {
    config = loadMirrorConfig(io.env);
  } catch (e) {
    if (e instanceof MirrorStartupError) {
      io.err(e.message);
      return 2;
    }
    throw e;
  }
  const secrets = [config.gitea.token, ...(config.githubToken ? [config.githubToken] : [])];
  const log = pino(
    { level: io.env.LOG_LEVEL ?? 'info', base: { component: 'raibid-mirror' }, redact: { paths: ['token', 'authToken', '*.token'], censor: '***' } },
    { write: (line: string) => io.err(secrets.reduce((t, s) => t.split(s).join('***'), line.replace(/\n$/, ''))) },
  ) as MirrorLog;
  const github = new GitHubClient({
    apiUrl: config.settings.githubApiUrl,
    token: config.githubToken,
    userAgent: `raibid-ci/${VERSION} (mirror sync)`,
    maxWaitSeconds: config.settings.maxRateLimitWaitSeconds,
    onWait: (w) => log.warn({ reason: w.reason, seconds: w.seconds, status: w.status }, 'waiting for GitHub'),
  });
  const gitea = new GiteaClient({ url: config.gitea.url, token: config.gitea.token });
  log.info({ dryRun: o.dryRun, sources: config.settings.sources.length, concurrency: config.settings.concurrency, githubToken: Boolean(config.githubToken) }, 'mirror sync started');
  const report = await reconcile({ settings: config.settings, github, gitea, githubToken: config.githubToken, dryRun: o.dryRun, log, secrets });
  for (const line of formatReport(report)) io.out(line);
  const count = (k: string, ok = true) => report.results.filter((x) => x.action.kind === k && x.ok === ok).length;
  log.info(
    {
      dryRun: o.dryRun,
      created: o.dryRun ? 0 : count('create'),
      updated: o.dryRun ? 0 : count('update'),
      unchanged: count('unchanged'),
      orphaned: report.plan.orphans.length,
      failed: report.failures.length + report.results.filter((x) => !x.ok).length,
      durationMs: report.durationMs,
      githubRequests: report.githubRequests,
    },
    'mirror sync finished',
  );
  return failed(report) ? 1 : 0;
}
