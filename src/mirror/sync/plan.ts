/**
 * The plan of one reconcile, worked out from what GitHub and Gitea answered: which mirrors to create,
 * which to update (their interval), which are as configured, which sit in Gitea although nothing asks
 * for them any more (orphans: reported, never deleted), and what cannot be done (conflicts). Pure: no
 * I/O here, so `--dry-run` prints exactly what a run would do.
 */
import { goDuration, type MirrorSettings, type MirrorSource } from '../contract.js';
import { githubNameOf, sourceLabel } from '../match.js';
import type { GiteaRepo } from '../../gitea/client.js';
import type { GitHubRepo } from './github.js';

/** A GitHub repository the config asks to mirror, and where. */
export interface Desired {
  readonly source: MirrorSource;
  readonly github: GitHubRepo;
  /** `owner/name` in Gitea. */
  readonly target: string;
  readonly owner: string;
  readonly name: string;
}

export type Action =
  | { readonly kind: 'create'; readonly desired: Desired }
  | { readonly kind: 'update'; readonly desired: Desired; readonly fromSeconds: number | undefined }
  | { readonly kind: 'unchanged'; readonly desired: Desired }
  /** The target exists and is not this source's mirror, or two sources claim it. */
  | { readonly kind: 'conflict'; readonly desired: Desired; readonly reason: string };

/** A mirror in Gitea that nothing in the config asks for now. */
export interface Orphan {
  readonly target: string;
  /** `owner/name` on GitHub it pulls from. */
  readonly github: string;
  readonly reason: string;
}

/** Something that failed before the plan (GitHub or Gitea could not be read for a source or owner). */
export interface Failure {
  /** `mirrors.sources[0]`, or a mirror `owner/name`, or an organisation. */
  readonly subject: string;
  readonly message: string;
}

export interface Plan {
  /** Gitea organisations to create first. */
  readonly organisations: readonly string[];
  readonly actions: readonly Action[];
  readonly orphans: readonly Orphan[];
  /** GitHub repositories the filters leave out, with why. */
  readonly skipped: readonly { readonly source: MirrorSource; readonly repo: string; readonly reason: string }[];
}

export interface PlanInput {
  readonly settings: MirrorSettings;
  readonly desired: readonly Desired[];
  readonly skipped: Plan['skipped'];
  /** Gitea's repositories of each target organisation (lower-case name → repositories); absent: the organisation does not exist. */
  readonly existing: ReadonlyMap<string, readonly GiteaRepo[]>;
  /** Sources GitHub could not be read for: their mirrors are neither created nor reported as orphans. */
  readonly failedSources: readonly MirrorSource[];
}

const lower = (s: string) => s.toLowerCase();

/** Works out the plan. Two sources naming one target: the first keeps it (a single repository before an owner's). */
export function plan(input: PlanInput): Plan {
  const { settings, existing } = input;
  const ordered = [...input.desired].sort((a, b) => Number(a.source.kind === 'owner') - Number(b.source.kind === 'owner'));
  const claimed = new Map<string, Desired>();
  const actions: Action[] = [];
  for (const d of ordered) {
    const key = lower(d.target);
    const first = claimed.get(key);
    if (first) {
      if (lower(first.github.fullName) === lower(d.github.fullName)) continue; // the same repository twice: one mirror
      actions.push({ kind: 'conflict', desired: d, reason: `${d.target} is already the mirror of github.com/${first.github.fullName} (${first.source.key}); give one of them another name or owner` });
      continue;
    }
    claimed.set(key, d);
    const repo = existing.get(lower(d.owner))?.find((r) => lower(r.name) === lower(d.name));
    if (!repo) {
      actions.push({ kind: 'create', desired: d });
      continue;
    }
    const from = githubNameOf(repo.originalUrl, settings.githubUrl);
    if (!repo.mirror || !from || lower(from) !== lower(d.github.fullName)) {
      const what = !repo.mirror ? 'is not a mirror' : from ? `mirrors github.com/${from}` : `mirrors ${repo.originalUrl || 'something else'}`;
      actions.push({ kind: 'conflict', desired: d, reason: `${repo.fullName} exists in Gitea and ${what}, not github.com/${d.github.fullName}; rename or remove it, or set ${d.source.key}.${d.source.kind === 'repository' ? 'name' : 'owner'}` });
      continue;
    }
    if (repo.mirrorIntervalSeconds !== d.source.intervalSeconds) actions.push({ kind: 'update', desired: d, fromSeconds: repo.mirrorIntervalSeconds });
    else actions.push({ kind: 'unchanged', desired: d });
  }

  const skippedBy = new Map(input.skipped.map((s) => [lower(s.repo), s.reason]));
  const unknown = (github: string) => {
    const [owner, name] = github.split('/');
    return input.failedSources.some((s) => lower(s.githubOwner) === lower(owner) && (s.kind === 'owner' || lower(s.githubRepo!) === lower(name)));
  };
  const orphans: Orphan[] = [];
  for (const [, repos] of [...existing].sort(([a], [b]) => a.localeCompare(b))) {
    for (const r of repos) {
      const github = r.mirror ? githubNameOf(r.originalUrl, settings.githubUrl) : undefined;
      if (!github || claimed.has(lower(r.fullName)) || unknown(github)) continue;
      const skipped = skippedBy.get(lower(github));
      orphans.push({ target: r.fullName, github, reason: skipped ? `github.com/${github} is left out now: ${skipped}` : `no source of mirrors.sources covers github.com/${github} any more` });
    }
  }

  const owners = new Set(actions.filter((a) => a.kind === 'create').map((a) => a.desired.owner));
  const organisations = [...owners].filter((o) => !existing.has(lower(o))).sort();
  return { organisations, actions: actions.sort((a, b) => a.desired.target.localeCompare(b.desired.target)), orphans, skipped: input.skipped };
}

/** One line of the plan or of a run's report, e.g. `create    mirrors/tokio  ← github.com/tokio-rs/tokio (every 1h0m0s)`. */
export function describeAction(a: Action, done = false): string {
  const d = a.desired;
  const verb = { create: done ? 'created' : 'create', update: done ? 'updated' : 'update', unchanged: 'unchanged', conflict: 'conflict' }[a.kind];
  const detail =
    a.kind === 'create'
      ? `every ${goDuration(d.source.intervalSeconds)}${d.source.lfs ? ', lfs' : ''}${d.source.wiki ? ', wiki' : ''}${d.github.private ? ', private' : ''}`
      : a.kind === 'update'
        ? `interval ${a.fromSeconds === undefined ? 'unknown' : goDuration(a.fromSeconds)} → ${goDuration(d.source.intervalSeconds)}`
        : a.kind === 'conflict'
          ? a.reason
          : '';
  return `${verb.padEnd(10)}${d.target.padEnd(32)} ← github.com/${d.github.fullName}${detail ? ` (${detail})` : ''}`;
}

/** Where a source's repository goes, for messages about a source that failed. */
export function describeSource(s: MirrorSource): string {
  return `${s.key} (${sourceLabel(s)})`;
}
