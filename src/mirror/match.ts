/**
 * Which source of `mirrors.sources` a repository belongs to, in both directions: a GitHub repository
 * (a push webhook, the reconciler's listing) to its mirror in Gitea, and a Gitea repository (a Gitea push
 * webhook, the status listing) back to its source. The reconciler, the API and the CLI share it, so they
 * can never disagree on what is a mirror. No cdk8s here.
 */
import type { MirrorSettings, MirrorSource } from './contract.js';

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

const compiled = new Map<string, RegExp>();
/** A pattern of include/exclude (validated by the config schema) as a RegExp, compiled once. */
function regex(pattern: string): RegExp {
  let r = compiled.get(pattern);
  if (!r) compiled.set(pattern, (r = new RegExp(pattern)));
  return r;
}
const included = (source: MirrorSource, name: string) => source.include.length === 0 || source.include.some((p) => regex(p).test(name));
const excluded = (source: MirrorSource, name: string) => source.exclude.some((p) => regex(p).test(name));

/** Whether an owner source's include/exclude patterns admit a repository name (JavaScript regular expressions). */
export function nameAdmitted(source: MirrorSource, name: string): boolean {
  return included(source, name) && !excluded(source, name);
}

/** What the filters of a source say about a GitHub repository; undefined when it is mirrored. */
export function skipReason(source: MirrorSource, repo: { name: string; archived?: boolean; fork?: boolean; disabled?: boolean }): string | undefined {
  if (source.kind === 'repository') return repo.disabled ? 'disabled on GitHub' : undefined;
  if (!included(source, repo.name)) return `not matched by include (${source.include.join(', ')})`;
  if (excluded(source, repo.name)) return `matched by exclude (${source.exclude.join(', ')})`;
  if (repo.disabled) return 'disabled on GitHub';
  if (source.skipArchived && repo.archived) return 'archived (skipArchived)';
  if (source.skipForks && repo.fork) return 'a fork (skipForks)';
  return undefined;
}

/** `owner/name` of the mirror of a GitHub repository that a source covers. */
export function targetOf(source: MirrorSource, githubName: string): string {
  return `${source.owner}/${source.kind === 'repository' ? (source.name ?? source.githubRepo!) : githubName}`;
}

/**
 * The source that covers a GitHub repository (`owner/name`), without its archived/fork filters (a push
 * payload carries those; see skipReason). A single-repository source wins over an owner's.
 */
export function sourceOfGithub(settings: Pick<MirrorSettings, 'sources'>, fullName: string): MirrorSource | undefined {
  const [owner, name] = fullName.split('/');
  if (!owner || !name) return undefined;
  const single = settings.sources.find((s) => s.kind === 'repository' && same(s.githubOwner, owner) && same(s.githubRepo!, name));
  return single ?? settings.sources.find((s) => s.kind === 'owner' && same(s.githubOwner, owner) && nameAdmitted(s, name));
}

/** `owner/name` on GitHub of a clone address or `original_url` under `githubUrl`; undefined for anything else. */
export function githubNameOf(url: string, githubUrl: string): string | undefined {
  let u: URL;
  let base: URL;
  try {
    u = new URL(url);
    base = new URL(githubUrl);
  } catch {
    return undefined;
  }
  if (u.host.toLowerCase() !== base.host.toLowerCase()) return undefined;
  const prefix = base.pathname.replace(/\/+$/, '');
  if (!u.pathname.startsWith(`${prefix}/`)) return undefined;
  const parts = u.pathname.slice(prefix.length + 1).replace(/\.git$/, '').replace(/\/+$/, '').split('/');
  return parts.length === 2 && parts[0] && parts[1] ? `${parts[0]}/${parts[1]}` : undefined;
}

/**
 * The source a Gitea repository (`owner/name`) is the mirror of, by name alone: a single-repository
 * source's target, or an owner source's organisation with a name its patterns admit. With `originalUrl`
 * (Gitea's record of where a mirror pulls from), an owner source must also be the GitHub owner there.
 */
export function sourceOfTarget(settings: Pick<MirrorSettings, 'sources' | 'githubUrl'>, target: string, originalUrl?: string): MirrorSource | undefined {
  const [owner, name] = target.split('/');
  if (!owner || !name) return undefined;
  const single = settings.sources.find((s) => s.kind === 'repository' && same(s.owner, owner) && same(s.name ?? s.githubRepo!, name));
  if (single) return single;
  const from = originalUrl ? githubNameOf(originalUrl, settings.githubUrl) : undefined;
  return settings.sources.find((s) => s.kind === 'owner' && same(s.owner, owner) && nameAdmitted(s, name) && (originalUrl === undefined || (from !== undefined && same(from.split('/')[0], s.githubOwner))));
}

/** `github.com/<owner>[/<repo>]` as written in raibid.yaml, for messages. */
export function sourceLabel(source: MirrorSource): string {
  return `github.com/${source.githubOwner}${source.kind === 'repository' ? `/${source.githubRepo}` : ''}`;
}
