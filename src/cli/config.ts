/**
 * Where the CLI finds the API and its token, first match wins:
 *
 *   1. --api URL / --token TOKEN
 *   2. RAIBID_API_URL / RAIBID_TOKEN
 *   3. the user's config file: $XDG_CONFIG_HOME/raibid/config.yaml, else ~/.config/raibid/config.yaml
 *
 *      api: http://ci.example.lan:8080
 *      token: …            # the admin token acts; the read token only reads
 *      checkout: ~/src/raibid-ci   # optional: where `raibid scale` and the dashboard's +/- edit raibid.yaml
 *
 * A config file holding a token must be private (mode 0600, like ~/.ssh keys): the CLI refuses a file
 * other users can read and says how to fix it. The token is never printed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { UsageError } from './args.js';

/** Environment variables the CLI reads. */
export const CLI_ENV = {
  apiUrl: 'RAIBID_API_URL',
  token: 'RAIBID_TOKEN',
  /** A folder of a raibid-ci checkout, for `raibid scale` (default: the current folder or one above it). */
  checkout: 'RAIBID_CHECKOUT',
  /** The command `raibid scale` runs to synthesize (default: `npm run --silent synth`); see scale.ts. */
  synthCommand: 'RAIBID_SYNTH_COMMAND',
} as const;

/** A problem with the CLI's settings (exit 2, one line). */
export class CliConfigError extends Error {}

export interface ApiTarget {
  readonly url: string;
  readonly token?: string;
  /** Where each value came from, for messages. */
  readonly source: string;
  readonly checkout?: string;
}

const fileSchema = z.strictObject({
  api: z.string().optional(),
  token: z.string().optional(),
  checkout: z.string().optional(),
});
export type CliConfigFile = z.infer<typeof fileSchema>;

/** The config file's path for this environment. */
export function configFilePath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'raibid', 'config.yaml');
}

/** Reads the config file; undefined when there is none. Throws CliConfigError naming the problem. */
export function readConfigFile(path: string): CliConfigFile | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8')) ?? {};
  } catch (e) {
    throw new CliConfigError(`${path}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (expected api, token, checkout)` : `${i.path.join('.') || '(top level)'}: ${i.message}`));
    throw new CliConfigError(`${path}: ${problems.join('; ')}`);
  }
  if (r.data.token !== undefined && process.platform !== 'win32') {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new CliConfigError(`${path} holds a token and other users can read it (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${path}`);
  }
  return r.data;
}

function checkUrl(url: string, source: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliConfigError(`${source}: expected the API's URL such as http://ci.example.lan:8080, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliConfigError(`${source}: expected an http(s) URL, got ${JSON.stringify(url)}`);
  return url;
}

/** The API to talk to, from flags, environment and config file (in that order). */
export function resolveApiTarget(flags: { api?: string; token?: string }, env: NodeJS.ProcessEnv): ApiTarget {
  const path = configFilePath(env);
  const file = readConfigFile(path);
  const url = flags.api ? { v: flags.api, s: '--api' } : env[CLI_ENV.apiUrl] ? { v: env[CLI_ENV.apiUrl]!, s: CLI_ENV.apiUrl } : file?.api ? { v: file.api, s: `${path}: api` } : undefined;
  if (!url) throw new CliConfigError(`no API address: set ${CLI_ENV.apiUrl}, pass --api URL, or put "api: URL" in ${path}`);
  // An empty value counts as unset, so RAIBID_TOKEN= falls through to the config file.
  const token = flags.token ? { v: flags.token, s: '--token' } : env[CLI_ENV.token] ? { v: env[CLI_ENV.token]!, s: CLI_ENV.token } : file?.token ? { v: file.token, s: path } : undefined;
  if (token && !/^[\x21-\x7e]+$/.test(token.v)) throw new CliConfigError(`the token (${token.s}) has spaces or control characters`);
  return { url: checkUrl(url.v, url.s), token: token?.v, source: url.s, checkout: file?.checkout };
}

/**
 * The API target of a parsed command line (`--api`, `--token`), the environment or the config file; a
 * bad one is the user's mistake: a UsageError (one line, exit 2).
 */
export function apiTargetOf(values: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): ApiTarget {
  try {
    return resolveApiTarget({ api: values.api as string | undefined, token: values.token as string | undefined }, env);
  } catch (e) {
    if (e instanceof CliConfigError) throw new UsageError(e.message);
    throw e;
  }
}
