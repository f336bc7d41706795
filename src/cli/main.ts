/**
 * `raibid`: one command for the whole runtime.
 *
 *   raibid api [--listen HOST:PORT]   the webhook and job API (src/api/server/)
 *   raibid agent                      an agent, in the mode its environment names (src/agents/runner/)
 *   raibid agent drain                stop the local pooled agent taking jobs; wait for running ones
 *   raibid tui                        the dashboard (tui/)
 *   raibid jobs|logs|cancel|retry|run|watch|status   the job commands (jobs.ts), against the API
 *   raibid scale POOL N               maxReplicas in raibid.yaml, through synth (scale.ts)
 *   raibid --version | --help
 *
 * A user's mistake (unknown command or option, bad environment) prints one clear message and exits 2;
 * never a stack trace. An API that refuses or cannot be reached is one line and exit 1.
 */
import { UsageError, parse } from './args.js';
import { VERSION } from './version.js';

export { UsageError } from './args.js';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** The terminal, when stdout is one: `watch` redraws in place, `tui` draws the dashboard. */
  readonly terminal?: { readonly stdout: NodeJS.WriteStream; readonly stdin: NodeJS.ReadStream; readonly stderr: NodeJS.WriteStream };
  /** Where `scale` and the dashboard look for a checkout (default: the process's current folder). */
  readonly cwd?: string;
}

const HELP = `raibid ${VERSION}: the raibid-ci runtime

Usage:
  raibid api [--listen HOST:PORT]   serve the webhook and job API
  raibid agent                      run an agent (RAIBID_MODE: ephemeral, pooled or direct)
  raibid agent drain                drain the pooled agent on this pod (its preStop hook)
  raibid --version                  print the version

For people (against the API: RAIBID_API_URL and RAIBID_TOKEN, --api/--token, or
~/.config/raibid/config.yaml):
  raibid tui                        the dashboard: jobs, agents, pools, logs, cancel, retry, scale
  raibid jobs [--status S] [--repo R] [--pool P] [--limit N] [--json]
  raibid jobs show ID [--json]      one job: steps, cache, image, why it waits
  raibid logs ID [-f]               a job's log; -f follows it live
  raibid cancel ID | retry ID       cancel a queued or running job | run an ended one again
  raibid run REPO [--ref REF | --sha SHA] [--pool POOL]
  raibid watch ID [--exit-status]   follow a job's steps until it ends
  raibid status [--json]            pools, queue, agents, dead letters
  raibid scale POOL N               set maxReplicas in raibid.yaml and run synth (from a checkout)
  raibid mirrors [--json]           repository mirrors: last and next sync, errors, stale

Repository mirrors (src/mirror/; what the mirror CronJob runs):
  raibid mirror sync [--dry-run]    create and update Gitea's pull mirrors of raibid.yaml's mirrors

Run "raibid <command> --help" for a command's options and environment.`;

const API_HELP = `Usage: raibid api [--listen HOST:PORT]

Serves the raibid-ci API: Gitea webhooks (POST /api/v1/webhooks/gitea), jobs, logs, pools, agents,
/healthz, /readyz, /metrics and /openapi.json; GitHub push webhooks that sync mirrors
(POST /api/v1/webhooks/github) and the mirrors' state (GET /api/v1/mirrors). Runs the reaper and, for
direct pools, the Job dispatcher.

Options:
  --listen HOST:PORT   address to listen on (default: the settings file's listen)
  -h, --help           this help

Environment: RAIBID_API_CONFIG (settings file), REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD, GITEA_URL,
GITEA_USER, GITEA_TOKEN, WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET, RAIBID_ADMIN_TOKEN, RAIBID_READ_TOKEN,
LOG_LEVEL.`;

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

const TUI_HELP = `Usage: raibid tui [--api URL] [--token TOKEN] [--dir CHECKOUT]

The dashboard: jobs (Enter: steps, cache, image and the live log), agents, and each pool's queue
with the last minute as a sparkline. Refreshes every second; says so in the header when the API is
unreachable or refuses the token, and keeps retrying.

Keys: ↑/↓ or j/k move, PgUp/PgDn, g/G first/last, Enter job detail, Esc back, c cancel (asks first),
R retry, n new job, / filter (a status, owner/name or text), Tab views, r refresh, + and - scale the
selected pool in the Pools view (asks first; runs the same code as "raibid scale", so only from a
raibid-ci checkout), q or Ctrl+C quit.

Options:
  --api URL       the API (default: $RAIBID_API_URL, else "api:" in ~/.config/raibid/config.yaml)
  --token TOKEN   bearer token (default: $RAIBID_TOKEN, else "token:" in the config file)
  --dir DIR       the raibid-ci checkout + and - edit (default: $RAIBID_CHECKOUT, "checkout:" in the
                  config file, else the current folder or one above it)
  -h, --help      this help`;

const SCALE_HELP = `Usage: raibid scale POOL N [--dir CHECKOUT]

Scaling stays GitOps: sets agents.pools[POOL].maxReplicas in the checkout's raibid.yaml (one line;
comments and layout kept), runs synth, which plans the capacity and refuses what does not fit (then
raibid.yaml is left unchanged and the budget table says why), and prints the diff and the commit to
make. It never changes the cluster, and never commits or pushes.

N is a number of agents (1 to 1000), "auto" (the most that fit), or +N/-N relative to the current
value ("auto" counts as CAPACITY.md's plan).

Options:
  --dir DIR   the checkout (default: $RAIBID_CHECKOUT, "checkout:" in ~/.config/raibid/config.yaml,
              else the current folder or one above it holding raibid.yaml)
  -h, --help  this help

Environment: RAIBID_SYNTH_COMMAND replaces "npm run --silent synth" (a shell command run in the
checkout; tests use it to inject a stub).`;

/** Runs the command line; resolves with the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo = {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    env: process.env,
    terminal: process.stdout.isTTY ? { stdout: process.stdout, stdin: process.stdin, stderr: process.stderr } : undefined,
  },
): Promise<number> {
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
      case 'jobs':
      case 'logs':
      case 'cancel':
      case 'retry':
      case 'run':
      case 'watch':
      case 'status': {
        const { runJobCommand } = await import('./jobs.js');
        return await runJobCommand(command, rest, io);
      }
      case 'scale': {
        // "-1" is a number of agents, not an option: hand it to parseArgs as a positional.
        const negative = (x: string) => /^-\d+$/.test(x);
        const a = parse([...rest.filter((x) => !negative(x)), '--', ...rest.filter(negative)], { dir: { type: 'string' } });
        if (a.values.help) return io.out(SCALE_HELP), 0;
        const { runScale } = await import('./scale-command.js');
        return await runScale(a, io);
      }
      case 'tui': {
        const a = parse(rest, { api: { type: 'string' }, token: { type: 'string' }, dir: { type: 'string' } });
        if (a.values.help) return io.out(TUI_HELP), 0;
        if (a.positionals.length) throw new UsageError(`raibid tui takes no arguments, got ${JSON.stringify(a.positionals[0])}`);
        const tui = await import('./tui/run.js');
        const { prepareTui } = await import('./tui-options.js');
        const prepared = prepareTui(a, io);
        if (!io.terminal || !io.terminal.stdin.isTTY) throw new UsageError('raibid tui needs a terminal (stdin and stdout must be a TTY); for scripts use raibid jobs, raibid status or raibid watch');
        return await tui.runTui({ ...prepared, stdin: io.terminal.stdin, stdout: io.terminal.stdout, stderr: io.terminal.stderr, env: io.env });
      }
      case 'mirror':
      case 'mirrors': {
        const { mirrorCommand } = await import('../mirror/cli.js');
        return await mirrorCommand(command, rest, io);
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
