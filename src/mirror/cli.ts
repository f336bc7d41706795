/**
 * The mirror commands of `raibid` (dispatched from src/cli/main.ts):
 *
 *   raibid mirror sync [--dry-run]   one reconcile (sync/main.ts): what the CronJob runs, or by hand
 *   raibid mirrors [--json]          the mirrors and their state, from the API (GET /api/v1/mirrors)
 */
import { UsageError, parse } from '../cli/args.js';
import { apiTargetOf } from '../cli/config.js';
import type { MirrorStatus } from '../api/server/mirrors.js';
import { MIRRORS_ROUTE, MIRROR_ENV } from './contract.js';

export interface MirrorCliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export const MIRROR_HELP = `Usage: raibid mirror sync [--dry-run]

Keeps Gitea's pull mirrors equal to raibid.yaml's mirrors: lists the configured GitHub repositories and
organisations (GitHub's REST API, 100 a page, within its rate limits), creates the missing mirrors
(at most "concurrency" migrations at once) and their organisations, updates intervals that differ,
and reports mirrors nothing asks for any more (orphans: never deleted). One repository's failure does
not stop the others; the exit code is 1 when anything failed.

Options:
  --dry-run    print the plan (create / update / unchanged / orphaned) and change nothing
  -h, --help   this help

Environment: ${MIRROR_ENV.settings} (settings file, written by synth into the ConfigMap raibid-mirror),
${MIRROR_ENV.giteaUrl}, ${MIRROR_ENV.giteaToken} (the bot's mirror token), ${MIRROR_ENV.githubToken} (optional: private
repositories and 5000 instead of 60 requests an hour), LOG_LEVEL. Logs are JSON on stderr; the plan or
the outcome is text on stdout.`;

export const MIRRORS_HELP = `Usage: raibid mirrors [--json] [--api URL] [--token TOKEN]

The repository mirrors, from the API: each mirror's source, whether it runs CI, when it last synced
(Gitea), when it syncs next, its last error, and "stale" when it has not synced for 24 hours.

Options:
  --json          the API's answer as JSON
  --api URL       the API (default: $RAIBID_API_URL, else "api:" in ~/.config/raibid/config.yaml)
  --token TOKEN   bearer token, the read token is enough (default: $RAIBID_TOKEN, else "token:" in the config file)
  -h, --help      this help`;

/** A mirror as GET /api/v1/mirrors returns it: the fields the listing shows. */
export type MirrorRow = Pick<MirrorStatus, 'mirror' | 'source' | 'ci' | 'interval' | 'exists' | 'lastSync' | 'nextSync' | 'stale' | 'lastError'>;

/** "3m ago", "in 2h", "never". */
export function relative(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const d = Date.parse(iso) - now;
  const a = Math.abs(d) / 1000;
  const text = a < 90 ? `${Math.round(a)}s` : a < 5400 ? `${Math.round(a / 60)}m` : a < 172_800 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86_400)}d`;
  return d < 0 ? `${text} ago` : `in ${text}`;
}

/** The table `raibid mirrors` prints. */
export function mirrorsTable(rows: readonly MirrorRow[], now: number): string[] {
  if (rows.length === 0) return ['no mirrors (raibid.yaml: mirrors.sources is empty, or nothing is mirrored yet)'];
  const state = (r: MirrorRow) => (!r.exists ? 'missing' : r.lastError ? 'error' : r.stale ? 'stale' : 'ok');
  const table = [['MIRROR', 'SOURCE', 'CI', 'LAST SYNC', 'NEXT SYNC', 'STATE'], ...rows.map((r) => [r.mirror, r.source, r.ci ? 'on' : 'off', relative(r.lastSync, now), r.nextSync ? relative(r.nextSync, now) : '-', state(r)])];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
  for (const r of rows) if (r.lastError) lines.push(`${r.mirror}: ${r.lastError}`);
  return lines;
}

async function fetchMirrors(a: ReturnType<typeof parse>, io: MirrorCliIo): Promise<{ mirrors: MirrorRow[] }> {
  const target = apiTargetOf(a.values, io.env);
  const url = `${target.url.replace(/\/+$/, '')}${MIRRORS_ROUTE}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: target.token ? { authorization: `Bearer ${target.token}` } : {}, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    const cause = (e as Error).name === 'TimeoutError' ? 'timed out' : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message);
    throw new Error(`cannot reach the API at ${target.url}: ${cause}`);
  }
  const body = (await res.json().catch(() => ({}))) as { mirrors?: MirrorRow[]; message?: string };
  if (res.status === 401) throw new Error(`the API at ${target.url} ${target.token ? 'refused the token' : 'needs a token'} (401): set RAIBID_TOKEN, --token or token: in the config file`);
  if (!res.ok) throw new Error(`the API at ${target.url} answered ${res.status}${body.message ? `: ${body.message.replace(/\s*\n\s*/g, ' ')}` : ''}`);
  if (!Array.isArray(body.mirrors)) throw new Error(`the API at ${target.url} sent no list of mirrors (is it older than this raibid?)`);
  return { mirrors: body.mirrors };
}

/** `raibid mirror …` and `raibid mirrors …`; resolves with the exit code. UsageError for mistakes (main prints it, exit 2). */
export async function mirrorCommand(command: 'mirror' | 'mirrors', rest: readonly string[], io: MirrorCliIo, now: () => number = Date.now): Promise<number> {
  if (command === 'mirrors') {
    const a = parse(rest, { json: { type: 'boolean' }, api: { type: 'string' }, token: { type: 'string' } });
    if (a.values.help) return io.out(MIRRORS_HELP), 0;
    if (a.positionals.length) throw new UsageError(`raibid mirrors takes no arguments, got ${JSON.stringify(a.positionals[0])}`);
    const answer = await fetchMirrors(a, io);
    if (a.values.json) io.out(JSON.stringify(answer.mirrors, null, 2));
    else for (const l of mirrorsTable(answer.mirrors, now())) io.out(l);
    return 0;
  }
  const a = parse(rest, { 'dry-run': { type: 'boolean' } });
  if (a.values.help) return io.out(MIRROR_HELP), 0;
  const [sub, ...extra] = a.positionals;
  if (sub !== 'sync' || extra.length) throw new UsageError(sub === undefined ? 'raibid mirror: expected "sync" (run "raibid mirror --help")' : `raibid mirror: unknown argument ${JSON.stringify(sub !== 'sync' ? sub : extra[0])} (expected "sync")`);
  const { runMirrorSync } = await import('./sync/main.js');
  return runMirrorSync(io, { dryRun: a.values['dry-run'] === true });
}
