/**
 * One reconcile of the mirrors (`raibid mirror sync`): read what the config asks for from GitHub, read
 * what Gitea has, plan (plan.ts), and — unless it is a dry run — create the missing organisations and pull
 * mirrors and update the intervals that differ. At most `concurrency` migrations run at once; one
 * repository's failure is reported and the others go on; nothing is ever deleted.
 */
import { goDuration, type MirrorSettings, type MirrorSource } from '../contract.js';
import { skipReason, sourceLabel, targetOf } from '../match.js';
import { GiteaError, type GiteaClient, type GiteaRepo } from '../../gitea/client.js';
import type { GitHubClient } from './github.js';
import { plan, type Action, type Desired, type Failure, type Plan } from './plan.js';

/** The part of a pino logger the reconciler uses. */
export interface MirrorLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ReconcileOptions {
  readonly settings: MirrorSettings;
  readonly github: GitHubClient;
  readonly gitea: GiteaClient;
  /** Passed to Gitea's migration (it clones with it); empty: public repositories only. */
  readonly githubToken?: string;
  readonly dryRun: boolean;
  readonly log: MirrorLog;
  /** Values that must never appear in a message (tokens). */
  readonly secrets?: readonly string[];
}

export interface ActionResult {
  readonly action: Action;
  /** False when it failed (or, in a dry run, when it is a conflict). */
  readonly ok: boolean;
  readonly error?: string;
}

export interface Report {
  readonly dryRun: boolean;
  readonly plan: Plan;
  readonly results: readonly ActionResult[];
  /** What failed before or outside the actions (a source GitHub could not list, an organisation). */
  readonly failures: readonly Failure[];
  readonly organisationsCreated: readonly string[];
  readonly durationMs: number;
  readonly githubRequests: number;
}

/** Whether anything failed (the command then exits non-zero). */
export function failed(r: Report): boolean {
  return r.failures.length > 0 || r.results.some((x) => !x.ok);
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function reconcile(o: ReconcileOptions): Promise<Report> {
  const started = Date.now();
  const { settings, github, gitea, log } = o;
  const secrets = (o.secrets ?? []).filter((s) => s.length >= 4);
  const clean = (m: string) => secrets.reduce((t, s) => t.split(s).join('***'), m.replace(/\/\/[^/@\s]+:[^/@\s]+@/g, '//***@'));
  const failures: Failure[] = [];

  // 1. GitHub: what each source asks for.
  const desired: Desired[] = [];
  const skipped: Plan['skipped'][number][] = [];
  const failedSources: MirrorSource[] = [];
  for (const source of settings.sources) {
    try {
      const repos = source.kind === 'repository' ? await github.repo(source.githubOwner, source.githubRepo!).then((r) => (r ? [r] : undefined)) : await github.ownerRepos(source.githubOwner).then((r) => r?.repos);
      if (!repos) {
        failedSources.push(source);
        const what = sourceLabel(source);
        failures.push({ subject: source.key, message: `${what} not found on GitHub${github.authenticated ? ' (or the token cannot see it)' : ' (a private one needs a GitHub token: stack setting raibid-ci:githubToken)'}` });
        continue;
      }
      for (const repo of repos) {
        const reason = skipReason(source, repo);
        if (reason) {
          skipped.push({ source, repo: repo.fullName, reason });
          continue;
        }
        const target = targetOf(source, repo.name);
        const [owner, name] = target.split('/');
        desired.push({ source, github: repo, target, owner, name });
      }
      log.info({ source: source.key, from: sourceLabel(source), repositories: repos.length, mirrored: desired.filter((d) => d.source === source).length }, 'resolved source on GitHub');
    } catch (e) {
      failedSources.push(source);
      failures.push({ subject: source.key, message: clean((e as Error).message) });
      log.error({ source: source.key, err: clean((e as Error).message) }, 'could not read the source from GitHub');
    }
  }

  // 2. Gitea: the repositories of every organisation the sources name (mirrors and orphans live there).
  const existing = new Map<string, readonly GiteaRepo[]>();
  const unreadable = new Set<string>();
  for (const owner of [...new Set(settings.sources.map((s) => s.owner.toLowerCase()))].sort()) {
    try {
      if (!(await gitea.org(owner))) continue;
      existing.set(owner, await gitea.orgRepos(owner));
    } catch (e) {
      unreadable.add(owner);
      failures.push({ subject: owner, message: `cannot read organisation ${owner} in Gitea: ${clean((e as Error).message)}` });
      log.error({ owner, err: clean((e as Error).message) }, 'could not read the organisation from Gitea');
    }
  }

  const p = plan({ settings, desired: desired.filter((d) => !unreadable.has(d.owner.toLowerCase())), skipped, existing, failedSources });
  const results: ActionResult[] = [];
  const organisationsCreated: string[] = [];
  const summary = () => ({
    dryRun: o.dryRun,
    plan: p,
    results: results.sort((a, b) => a.action.desired.target.localeCompare(b.action.desired.target)),
    failures,
    organisationsCreated,
    durationMs: Date.now() - started,
    githubRequests: github.requests,
  });

  for (const a of p.actions.filter((x) => x.kind === 'conflict')) {
    results.push({ action: a, ok: false, error: a.kind === 'conflict' ? a.reason : '' });
    log.error({ mirror: a.desired.target, source: a.desired.source.key, reason: a.kind === 'conflict' ? a.reason : '' }, 'mirror conflict');
  }
  for (const a of p.actions.filter((x) => x.kind === 'unchanged')) results.push({ action: a, ok: true });
  if (o.dryRun) {
    for (const a of p.actions.filter((x) => x.kind === 'create' || x.kind === 'update')) results.push({ action: a, ok: true });
    return summary();
  }

  // 3. Organisations, then mirrors (at most `concurrency` migrations at once), then intervals.
  const noOrg = new Map<string, string>();
  for (const org of p.organisations) {
    try {
      await gitea.createOrg(org, { visibility: 'limited', description: 'Pull mirrors of GitHub repositories, kept by raibid-ci (raibid.yaml: mirrors)' });
      organisationsCreated.push(org);
      log.info({ owner: org }, 'created organisation');
    } catch (e) {
      const message = clean((e as Error).message);
      noOrg.set(org.toLowerCase(), message);
      failures.push({ subject: org, message: `cannot create organisation ${org} in Gitea: ${message}` });
      log.error({ owner: org, err: message }, 'could not create the organisation');
    }
  }
  const creates = p.actions.filter((a): a is Extract<Action, { kind: 'create' }> => a.kind === 'create');
  await pool(creates, settings.concurrency, async (a) => {
    const d = a.desired;
    const orgProblem = noOrg.get(d.owner.toLowerCase());
    if (orgProblem) {
      results.push({ action: a, ok: false, error: `organisation ${d.owner} could not be created: ${orgProblem}` });
      return;
    }
    const t0 = Date.now();
    try {
      await gitea.migrateMirror({
        cloneAddr: d.github.cloneUrl,
        owner: d.owner,
        name: d.name,
        interval: goDuration(d.source.intervalSeconds),
        lfs: d.source.lfs,
        wiki: d.source.wiki,
        private: d.github.private,
        description: d.github.description ?? undefined,
        service: 'github',
        ...(o.githubToken ? { authToken: o.githubToken } : {}),
      });
      results.push({ action: a, ok: true });
      log.info({ mirror: d.target, from: `github.com/${d.github.fullName}`, source: d.source.key, durationMs: Date.now() - t0 }, 'created mirror');
    } catch (e) {
      if (e instanceof GiteaError && e.status === 409) {
        // Created meanwhile (another run, or a migration that outlived our timeout): the next run checks it.
        results.push({ action: a, ok: true });
        log.warn({ mirror: d.target }, 'mirror exists already (created meanwhile)');
        return;
      }
      const message = clean((e as Error).message);
      results.push({ action: a, ok: false, error: message });
      log.error({ mirror: d.target, from: `github.com/${d.github.fullName}`, source: d.source.key, err: message, durationMs: Date.now() - t0 }, 'could not create the mirror');
    }
  });
  for (const a of p.actions.filter((x) => x.kind === 'update')) {
    const d = a.desired;
    try {
      await gitea.setMirrorInterval(d.target, goDuration(d.source.intervalSeconds));
      results.push({ action: a, ok: true });
      log.info({ mirror: d.target, interval: goDuration(d.source.intervalSeconds) }, 'updated mirror');
    } catch (e) {
      const message = clean((e as Error).message);
      results.push({ action: a, ok: false, error: message });
      log.error({ mirror: d.target, err: message }, 'could not update the mirror');
    }
  }
  return summary();
}
