/**
 * `mirrors`: GitHub repositories, and whole organisations or users, kept as pull mirrors in Gitea
 * (src/mirror/). Shapes and single values are checked here; what depends on several keys (duplicates,
 * keys that apply to one kind of source only, names other sections own) in mirrorContradictions.
 */
import { z } from 'zod';
import { durationSeconds } from '../quantity.js';
import { cronSchedule, duration, image, resources } from '../types.js';
import { cronProblem, quote } from '../formats.js';
import type { ParsedConfig } from '../schema.js';
import type { Problems } from '../contradictions.js';

/** Gitea's smallest mirror interval ([mirror] MIN_INTERVAL). */
const MIN_INTERVAL_SECONDS = 600;

/** `github.com/<owner>` or `github.com/<owner>/<repo>` (GitHub's rules for user, organisation and repository names). */
export const GITHUB_SOURCE = /^github\.com\/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(?:\/([A-Za-z0-9._-]{1,100}))?$/;
/** A Gitea user or organisation name. */
const GITEA_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9])?$/;
/** A Gitea repository name (AlphaDashDot, at most 100). */
const REPO_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** Cron schedules are checked by the shared format (re-exported for the mirror's own readers). */
export { cronProblem };

/** A JavaScript regular expression; the message says why it does not compile. */
const pattern = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `expected a regular expression (JavaScript syntax), but it does not compile (${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')})` });
  }
});

/** A duration Gitea accepts as a mirror interval (one that is no duration at all is reported by `duration`). */
const atLeastTenMinutes = (d: string): boolean => {
  try {
    return durationSeconds(d) >= MIN_INTERVAL_SECONDS;
  } catch {
    return true;
  }
};
const interval = duration.refine(atLeastTenMinutes, { error: 'expected an interval of at least 10m (Gitea\'s shortest mirror interval), such as "1h"' });

export const mirrorSourceSection = z.strictObject({
  from: z
    .string()
    .regex(GITHUB_SOURCE, { error: 'expected github.com/<owner> (an organisation or user) or github.com/<owner>/<repository>' })
    .refine((s) => !/\.git$/.test(s) && !/\/\.{1,2}$/.test(s), { error: 'expected a repository name without ".git"' })
    .describe('What to mirror: github.com/<owner>/<repository> (one repository) or github.com/<owner> (every repository of an organisation or user, filtered by include and exclude).'),
  owner: z.string().regex(GITEA_OWNER, { error: 'expected a Gitea organisation name (letters, digits, "-", "_", ".")' }).optional().describe('Gitea organisation the mirrors go into; created when missing. Default: mirrors.organization.'),
  name: z.string().regex(REPO_NAME, { error: 'expected a repository name (letters, digits, "-", "_", ".")' }).refine((s) => s !== '.' && s !== '..' && !s.endsWith('.git'), { error: 'expected a repository name without ".git"' }).optional().describe('One repository only: the mirror\'s name in Gitea. Default: its GitHub name.'),
  include: z.array(pattern).optional().describe('Organisations and users only: mirror the repositories whose name matches one of these regular expressions (JavaScript syntax, case-sensitive). Default: every repository.'),
  exclude: z.array(pattern).optional().describe('Organisations and users only: leave out the repositories whose name matches one of these regular expressions, even when include matches.'),
  skipArchived: z.boolean().optional().describe('Organisations and users only: leave out archived repositories. Default: mirrors.skipArchived.'),
  skipForks: z.boolean().optional().describe('Organisations and users only: leave out forks. Default: mirrors.skipForks.'),
  lfs: z.boolean().optional().describe('Mirror Git LFS objects (set when the mirror is created). Default: mirrors.lfs.'),
  wiki: z.boolean().optional().describe('Mirror the wiki too (set when the mirror is created). Default: mirrors.wiki.'),
  interval: interval.optional().describe('How often Gitea pulls the mirror (at least 10m). Default: mirrors.interval.'),
  ci: z.boolean().optional().describe('Whether pushes to these mirrors run CI. Default: mirrors.ci.'),
});

export const mirrorsSection = z
  .strictObject({
    sources: z.array(mirrorSourceSection).default([]).describe('Repositories, organisations and users to mirror from GitHub. Empty: the mirror CronJob is suspended.'),
    organization: z.string().regex(GITEA_OWNER, { error: 'expected a Gitea organisation name (letters, digits, "-", "_", ".")' }).default('mirrors').describe('Gitea organisation of sources that name no owner; created when missing.'),
    interval: interval.default('1h').describe('How often Gitea pulls each mirror (at least 10m; a GitHub push webhook syncs at once).'),
    ci: z.boolean().default(false).describe('Whether pushes to mirrors run CI. Off: mirrored code is not trusted until a source enables it.'),
    lfs: z.boolean().default(false).describe('Mirror Git LFS objects.'),
    wiki: z.boolean().default(false).describe('Mirror wikis.'),
    skipArchived: z.boolean().default(true).describe('Leave out archived repositories of organisations and users.'),
    skipForks: z.boolean().default(true).describe('Leave out forks of organisations and users.'),
    schedule: cronSchedule('17 4 * * *')
      .default('17 4 * * *')
      .describe('Cron schedule of `raibid mirror sync`, the re-scan that creates new mirrors and updates changed ones (daily by default).'),
    concurrency: z.number().int().min(1).max(8).default(2).describe('Gitea migrations at once: each clones a whole repository, and a burst of them overloads Gitea.'),
    image: image.optional().describe('Image of the mirror CronJob (it runs `raibid mirror sync`). Default: the API image, which carries the same `raibid` command.'),
    resources: resources({ cpu: '50m', memory: '128Mi', memoryLimit: '256Mi' }),
  })
  .prefault({});

export type MirrorsInput = z.input<typeof mirrorsSection>;

/** Contradictions of the `mirrors` section, each naming its key (limits below requests are checked with every section's). */
export function mirrorContradictions(c: ParsedConfig, p: Problems): void {
  const m = c.mirrors;
  const froms = new Map<string, number>();
  const targets = new Map<string, number>();
  const users = new Map([
    [c.gitea.admin.username.toLowerCase(), 'gitea.admin.username'],
    [c.gitea.bot.username.toLowerCase(), 'gitea.bot.username'],
  ]);
  const checkOwner = (owner: string, key: string) => {
    if (owner.toLowerCase() === c.flux.organization.toLowerCase()) p.add([key, 'flux.organization'], `${quote(owner)} is flux.organization, which holds the GitOps repository; mirror into an organisation of its own`);
    const user = users.get(owner.toLowerCase());
    if (user) p.add([key, user], `${quote(owner)} is a Gitea user (${user}), not an organisation; mirrors go into organisations`);
  };
  checkOwner(m.organization, 'mirrors.organization');
  m.sources.forEach((s, i) => {
    const at = `mirrors.sources[${i}]`;
    const [, , repo] = GITHUB_SOURCE.exec(s.from) ?? [];
    const from = s.from.toLowerCase();
    if (froms.has(from)) p.add(`${at}.from`, `duplicate source ${quote(s.from)} (also mirrors.sources[${froms.get(from)}]); list each source once`);
    else froms.set(from, i);
    if (s.owner !== undefined) checkOwner(s.owner, `${at}.owner`);
    if (repo !== undefined) {
      for (const key of ['include', 'exclude', 'skipArchived', 'skipForks'] as const) {
        if (s[key] !== undefined) p.add([`${at}.${key}`, `${at}.from`], `only an organisation or user (github.com/<owner>) has ${key}; ${quote(s.from)} is one repository`);
      }
      const target = `${s.owner ?? m.organization}/${s.name ?? repo}`;
      const lower = target.toLowerCase();
      if (targets.has(lower)) p.add(`${at}.${s.name !== undefined ? 'name' : 'from'}`, `the mirror ${target} is also the target of mirrors.sources[${targets.get(lower)}]; give one of them another name or owner`);
      else targets.set(lower, i);
    } else if (s.name !== undefined) {
      p.add([`${at}.name`, `${at}.from`], `only one repository (github.com/<owner>/<repository>) has a name; the repositories of ${quote(s.from)} keep their GitHub names`);
    }
  });
}
