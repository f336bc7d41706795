/**
 * The API's configuration, read once at start: the environment the Deployment gives it (contract.ts
 * API_ENV) and the mounted settings file. Every problem is listed at once; a secret's value never
 * appears in a message.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { API_ENV, apiSettingsSchema, type ApiSettings } from '../contract.js';
import type { RedisSettings } from '../../jobs/store.js';

export interface ApiRuntimeConfig {
  readonly settings: ApiSettings;
  readonly redis: RedisSettings;
  readonly gitea: { readonly url: string; readonly user?: string; readonly token: string };
  readonly webhookSecret: string;
  /** HMAC secret of GitHub's webhooks (mirrors); undefined: POST /webhooks/github refuses every delivery. */
  readonly githubWebhookSecret?: string;
  readonly tokens: { readonly admin: string; readonly read?: string };
}

/** A configuration the API cannot start with; `problems` names each variable or key. */
export class StartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`raibid api cannot start (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const secret = (name: string, min: number) => z.string({ error: `${name} is not set` }).min(min, { error: `${name} must be at least ${min} characters` });

const envSchema = z.object({
  [API_ENV.settings]: z.string({ error: `${API_ENV.settings} is not set (path of the settings file)` }).min(1),
  [API_ENV.redisUrl]: z.string({ error: `${API_ENV.redisUrl} is not set` }).regex(/^rediss?:\/\/[^\s]+$/, { error: `${API_ENV.redisUrl} must be a redis:// URL` }),
  [API_ENV.redisUsername]: z.string().optional(),
  [API_ENV.redisPassword]: z.string().optional(),
  [API_ENV.giteaUrl]: z.url({ protocol: /^https?$/, error: `${API_ENV.giteaUrl} must be an http(s) URL` }),
  [API_ENV.giteaUser]: z.string().optional(),
  [API_ENV.giteaToken]: secret(API_ENV.giteaToken, 1),
  [API_ENV.webhookSecret]: secret(API_ENV.webhookSecret, 16),
  [API_ENV.githubWebhookSecret]: secret(API_ENV.githubWebhookSecret, 16).optional(),
  [API_ENV.adminToken]: secret(API_ENV.adminToken, 16),
  [API_ENV.readToken]: secret(API_ENV.readToken, 16).optional(),
});

/** Reads and checks the environment and the settings file; throws StartupError listing every problem. */
export function loadApiConfig(env: NodeJS.ProcessEnv, overrides: Partial<ApiSettings> = {}): ApiRuntimeConfig {
  const problems: string[] = [];
  const e = envSchema.safeParse(env);
  if (!e.success)
    for (const i of e.error.issues) {
      const name = String(i.path[0] ?? '');
      problems.push(env[name] === undefined ? `${name} is not set` : i.message.includes(name) ? i.message : `${name}: ${i.message}`);
    }
  // Listed with the other problems (not after them), so one start shows everything to fix.
  if (env[API_ENV.readToken] !== undefined && env[API_ENV.readToken] === env[API_ENV.adminToken]) problems.push(`${API_ENV.readToken} must differ from ${API_ENV.adminToken}`);
  let settings: ApiSettings | undefined;
  const file = env[API_ENV.settings];
  if (file) {
    let raw: unknown;
    try {
      raw = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message.split('\n')[0]}`);
    }
    if (raw !== undefined) {
      const s = apiSettingsSchema.safeParse({ ...(raw as object), ...overrides });
      if (!s.success) for (const i of s.error.issues) problems.push(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
      else {
        settings = s.data;
        if (!settings.pools.some((p) => p.name === settings!.defaultPool)) problems.push(`${file}: defaultPool: ${JSON.stringify(settings.defaultPool)} is not one of the pools`);
      }
    }
  }
  if (problems.length > 0 || !e.success || !settings) throw new StartupError(problems);
  const v = e.data;
  return {
    settings,
    redis: { url: v[API_ENV.redisUrl], username: v[API_ENV.redisUsername], password: v[API_ENV.redisPassword] },
    gitea: { url: v[API_ENV.giteaUrl], user: v[API_ENV.giteaUser], token: v[API_ENV.giteaToken] },
    webhookSecret: v[API_ENV.webhookSecret],
    ...(v[API_ENV.githubWebhookSecret] ? { githubWebhookSecret: v[API_ENV.githubWebhookSecret] } : {}),
    tokens: { admin: v[API_ENV.adminToken], read: v[API_ENV.readToken] },
  };
}
