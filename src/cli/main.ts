/**
 * `raibid`: one command for the whole runtime.
 *
 *   raibid api [--listen HOST:PORT]   the webhook and job API (src/api/server/)
 *   raibid agent                      an agent, in the mode its environment names (src/agents/runner/)
 *   raibid agent drain                stop the local pooled agent taking jobs; wait for running ones
 *   raibid --version | --help
 *
 * A user's mistake (unknown command or option, bad environment) prints one clear message and exits 2;
 * never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VERSION } from './version.js';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

const HELP = `raibid ${VERSION}: the raibid-ci runtime

Usage:
  raibid api [--listen HOST:PORT]   serve the webhook and job API
  raibid agent                      run an agent (RAIBID_MODE: ephemeral, pooled or direct)
  raibid agent drain                drain the pooled agent on this pod (its preStop hook)
  raibid --version                  print the version

Run "raibid <command> --help" for a command's options and environment.`;

const API_HELP = `Usage: raibid api [--listen HOST:PORT]

Serves the raibid-ci API: Gitea webhooks (POST /api/v1/webhooks/gitea), jobs, logs, pools, agents,
/healthz, /readyz, /metrics and /openapi.json. Runs the reaper and, for direct pools, the Job dispatcher.

Options:
  --listen HOST:PORT   address to listen on (default: the settings file's listen)
  -h, --help           this help

Environment: RAIBID_API_CONFIG (settings file), REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD, GITEA_URL,
GITEA_USER, GITEA_TOKEN, WEBHOOK_SECRET, RAIBID_ADMIN_TOKEN, RAIBID_READ_TOKEN, LOG_LEVEL.`;

const AGENT_HELP = `Usage: raibid agent [drain]

Runs one agent of a pool: takes jobs from the pool's Redis stream, checks out the commit, runs the
pipeline, streams the log and reports the commit status. "raibid agent drain" asks the pooled agent
on this pod to stop taking jobs and returns when its running jobs have finished.

Options:
  -h, --help   this help

Environment: RAIBID_POOL, RAIBID_MODE, MAX_CONCURRENT_JOBS, JOB_TIMEOUT_SECONDS, REDIS_URL,
REDIS_USERNAME, REDIS_PASSWORD, REDIS_STREAM, REDIS_GROUP, REDIS_CONSUMER, GITEA_URL, GITEA_USER,
GITEA_TOKEN, RAIBID_IDLE_EXIT_SECONDS, RAIBID_JOB_ID (direct mode), RAIBID_WORKSPACE, RAIBID_HEALTH_PORT
and the cache and BuildKit variables (see src/agents/contract.ts).`;

/** A mistake in the command line: one line, exit 2. */
export class UsageError extends Error {}

function parse(args: readonly string[], options: ParseArgsConfig['options'] = {}): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: [...args], options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l), env: process.env }): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      case '-v':
      case '--version':
      case 'version':
        io.out(VERSION);
        return 0;
      case 'api': {
        const a = parse(rest, { listen: { type: 'string' } });
        if (a.values.help) return io.out(API_HELP), 0;
        if (a.positionals.length) throw new UsageError(`raibid api takes no arguments, got ${JSON.stringify(a.positionals[0])}`);
        const listen = a.values.listen as string | undefined;
        if (listen !== undefined && !/^[^:\s]+:\d{1,5}$/.test(listen)) throw new UsageError(`--listen: expected HOST:PORT such as 0.0.0.0:8080, got ${JSON.stringify(listen)}`);
        const { runApi } = await import('../api/server/main.js');
        return await runApi({ env: io.env, listen, err: io.err });
      }
      case 'agent': {
        const a = parse(rest);
        if (a.values.help) return io.out(AGENT_HELP), 0;
        const [sub, ...extra] = a.positionals;
        if (extra.length || (sub !== undefined && sub !== 'drain')) throw new UsageError(`raibid agent: unknown argument ${JSON.stringify(sub !== 'drain' ? sub : extra[0])} (expected nothing, or "drain")`);
        if (sub === 'drain') {
          const { drain } = await import('../agents/runner/drain.js');
          return await drain(io);
        }
        const { runAgent } = await import('../agents/runner/main.js');
        return await runAgent(io);
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; run "raibid --help"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`raibid: ${e.message}`);
      return 2;
    }
    io.err(`raibid: ${(e as Error).message}`);
    return 1;
  }
}
