/**
 * The contract of repository mirroring, between what the stack writes and what the runtime reads:
 *
 * - the mirror construct (mirror.ts) writes the ConfigMap `raibid-mirror` (`mirrors.yaml`, the schema
 *   below) and the CronJob's environment; `raibid mirror sync` (sync/) reads them;
 * - the API construct (src/api/api.ts) puts the same settings into the API's settings file, so the API
 *   maps GitHub pushes to mirrors and knows which Gitea repositories are mirrors and whether they may run CI;
 * - the Redis key the API keeps per mirror, and the routes the CLI calls.
 *
 * Both sides import this module, so a renamed key fails the type check. No cdk8s here.
 */
import { z } from 'zod';

/** Environment of the mirror CronJob's container. */
export const MIRROR_ENV = {
  /** Path of the settings file (YAML, {@link mirrorSettingsSchema}). */
  settings: 'RAIBID_MIRROR_CONFIG',
  giteaUrl: 'GITEA_URL',
  /** The bot's token for mirroring (`gitea-mirror-token`): may create organisations and migrate repositories. */
  giteaToken: 'GITEA_TOKEN',
  /** Optional GitHub token (`github-mirror`): private repositories and the higher rate limit. Empty means none. */
  githubToken: 'GITHUB_TOKEN',
} as const;

/** Where the settings ConfigMap is mounted, and the file in it. */
export const MIRROR_CONFIG_DIR = '/etc/raibid-mirror';
export const MIRROR_SETTINGS_KEY = 'mirrors.yaml';
export const MIRROR_SETTINGS_FILE = `${MIRROR_CONFIG_DIR}/${MIRROR_SETTINGS_KEY}`;
/** Arguments of the image's `raibid` entrypoint that run one reconcile. */
export const MIRROR_SYNC_ARGS = ['mirror', 'sync'] as const;

/** Routes of the API (under its /api/v1 prefix, src/api/contract.ts). */
export const GITHUB_WEBHOOK_ROUTE = '/api/v1/webhooks/github';
export const MIRRORS_ROUTE = '/api/v1/mirrors';

/** A mirror not synced for this long is `stale`. */
export const MIRROR_STALE_SECONDS = 24 * 3600;
/** Gitea refuses shorter mirror intervals ([mirror] MIN_INTERVAL). */
export const MIN_MIRROR_INTERVAL_SECONDS = 10 * 60;

/**
 * The API's record of a mirror in Redis (a hash, under the runtime's `raibid:*` prefix): what the GitHub
 * webhook path last did. `lastWebhookAt` (ms), `lastError` ('' when the last request succeeded),
 * `lastErrorAt` (ms). Gitea itself keeps when the mirror last synced (`mirror_updated`).
 */
export function mirrorStateKey(target: string): string {
  return `raibid:mirror:${target.toLowerCase()}`;
}
/** Seconds a mirror's Redis record lives after its last write. */
export const MIRROR_STATE_TTL_SECONDS = 30 * 86_400;

/** One entry of raibid.yaml's `mirrors.sources`, with every default filled in. */
export const mirrorSourceSchema = z.strictObject({
  /** Where it comes from in raibid.yaml, for messages: `mirrors.sources[2]`. */
  key: z.string(),
  /** `repository`: github.com/<owner>/<repo>; `owner`: every repository of github.com/<owner>. */
  kind: z.enum(['repository', 'owner']),
  /** The GitHub organisation or user. */
  githubOwner: z.string().min(1),
  /** The repository (kind `repository`). */
  githubRepo: z.string().min(1).optional(),
  /** Gitea organisation the mirrors go into (created when missing). */
  owner: z.string().min(1),
  /** Name of the mirror (kind `repository`); an owner's repositories keep their GitHub names. */
  name: z.string().min(1).optional(),
  /** Regular expressions (JavaScript) on repository names; empty means every repository (kind `owner`). */
  include: z.array(z.string()).default([]),
  exclude: z.array(z.string()).default([]),
  skipArchived: z.boolean().default(true),
  skipForks: z.boolean().default(true),
  lfs: z.boolean().default(false),
  wiki: z.boolean().default(false),
  /** Gitea's pull interval, seconds (≥ 600). */
  intervalSeconds: z.number().int().min(MIN_MIRROR_INTERVAL_SECONDS),
  /** Whether pushes to the mirror run CI (the API refuses them otherwise). */
  ci: z.boolean().default(false),
});
export type MirrorSource = z.output<typeof mirrorSourceSchema>;
export type MirrorSourceInput = z.input<typeof mirrorSourceSchema>;

/** The settings file (`mirrors.yaml` of the ConfigMap `raibid-mirror`; also `mirrors` of the API's settings). */
export const mirrorSettingsSchema = z.strictObject({
  /** GitHub's REST API. */
  githubApiUrl: z.url().default('https://api.github.com'),
  /** GitHub's web host: clone addresses and Gitea's `original_url` of a mirror start with it. */
  githubUrl: z.url().default('https://github.com'),
  /** Gitea migrations at once (a burst of clones overloads Gitea). */
  concurrency: z.number().int().min(1).max(8).default(2),
  /** Longest wait for GitHub's rate limit to reset before a run gives up, seconds. */
  maxRateLimitWaitSeconds: z.number().int().min(0).default(900),
  /** Cron schedule of the re-scan, shown by the API. */
  schedule: z.string().default(''),
  sources: z.array(mirrorSourceSchema).default([]),
});
export type MirrorSettings = z.output<typeof mirrorSettingsSchema>;
export type MirrorSettingsInput = z.input<typeof mirrorSettingsSchema>;

/** Seconds as Go's time.Duration.String() prints them, which Gitea uses for `mirror_interval`: 3600 → "1h0m0s". */
export function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** Go duration text ("8h0m0s", "10m", "1.5h") in whole seconds; undefined when it is not one. */
export function goDurationSeconds(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/.test(text)) return text === '0' ? 0 : undefined;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  let total = 0;
  for (const [, n, , u] of text.matchAll(/(\d+(\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(n) * unit[u];
  return Math.round(total);
}
