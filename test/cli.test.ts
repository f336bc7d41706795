/**
 * The `raibid` command (src/cli/): its command line, the start-up checks of `raibid api` and
 * `raibid agent` (every problem listed, exit 2, no secret echoed), the esbuild bundle the images run
 * (self-contained, never reaching the stack), and a static guard that runtime code imports nothing from
 * cdk8s, constructs, Pulumi or kubernetes-models.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../src/cli/main.js';
import { VERSION } from '../src/cli/version.js';
import { loadApiConfig, StartupError } from '../src/api/server/settings.js';
import { API_ENV } from '../src/api/contract.js';
import { AgentStartupError, loadAgentConfig } from '../src/agents/runner/config.js';
import { AGENT_ENV } from '../src/agents/contract.js';
import { bundleRaibid, refuseStack, STACK_PACKAGES } from '../src/images/bundle.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `raibid-cli-${prefix}-`));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** Everything printed, both streams. */
  readonly text: string;
}

/** Runs main() in-process with a fake io. */
async function raibid(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env };
  const code = await main(argv, io);
  return { code, out, err, text: [...out, ...err].join('\n') };
}

/** A user's mistake: exit 2, exactly one line on stderr, nothing on stdout, no stack. */
function expectUsageError(r: Run): string {
  expect(r.code).toBe(2);
  expect(r.out).toEqual([]);
  expect(r.err).toHaveLength(1);
  expect(r.err[0]).not.toContain('\n');
  expect(r.err[0]).toMatch(/^raibid: /);
  expect(r.err[0]).not.toMatch(/\n\s+at |Error:/);
  return r.err[0];
}

// Secret values used below; none may ever appear in a message.
const GITEA_TOKEN = 'gitea-token-5f0c2b9e7a1d4c3b';
const WEBHOOK_SECRET = 'webhook-secret-9a8b7c6d5e4f3a2b';
const ADMIN_TOKEN = 'admin-token-0f1e2d3c4b5a6978';
const READ_TOKEN = 'read-token-8877665544332211';
const REDIS_PASSWORD = 'redis-password-a1b2c3d4e5';
const SHORT_SECRET = 'tiny-secret';
const SECRETS = [GITEA_TOKEN, WEBHOOK_SECRET, ADMIN_TOKEN, READ_TOKEN, REDIS_PASSWORD, SHORT_SECRET];
const printed: string[] = [];
function expectNoSecret(text: string): void {
  printed.push(text);
  for (const s of SECRETS) expect(text).not.toContain(s);
}

describe('raibid command line', () => {
  it('--version prints the version, which is package.json\'s', async () => {
    expect(VERSION).toBe(PACKAGE_VERSION);
    for (const flag of ['--version', '-v', 'version']) {
      const r = await raibid([flag]);
      expect(r).toMatchObject({ code: 0, out: [PACKAGE_VERSION], err: [] });
    }
  });

  it('--help lists the commands and exits 0; no command prints the help and exits 2', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await raibid([flag]);
      expect(r.code).toBe(0);
      expect(r.err).toEqual([]);
      expect(r.out.join('\n')).toContain(`raibid ${VERSION}`);
      for (const c of ['raibid api [--listen HOST:PORT]', 'raibid agent ', 'raibid agent drain', 'raibid --version']) expect(r.out.join('\n')).toContain(c);
    }
    const none = await raibid([]);
    expect(none.code).toBe(2);
    expect(none.out.join('\n')).toContain('Usage:');
  });

  it('api --help and agent --help describe their options and environment', async () => {
    const api = await raibid(['api', '--help']);
    expect(api.code).toBe(0);
    expect(api.out.join('\n')).toMatch(/^Usage: raibid api \[--listen HOST:PORT\]/);
    for (const v of Object.values(API_ENV)) expect(api.out.join('\n')).toContain(v);
    const agent = await raibid(['agent', '-h']);
    expect(agent.code).toBe(0);
    expect(agent.out.join('\n')).toMatch(/^Usage: raibid agent \[drain\]/);
    for (const v of ['RAIBID_POOL', 'RAIBID_MODE', 'MAX_CONCURRENT_JOBS', 'REDIS_URL', 'GITEA_TOKEN', 'RAIBID_JOB_ID']) expect(agent.out.join('\n')).toContain(v);
  });

  it('an unknown command: exit 2, one line pointing at --help', async () => {
    expect(expectUsageError(await raibid(['x']))).toBe('raibid: unknown command "x"; run "raibid --help"');
  });

  it('an unknown option: exit 2, one line naming it', async () => {
    expect(expectUsageError(await raibid(['api', '--bogus']))).toContain('--bogus');
    expect(expectUsageError(await raibid(['agent', '--bogus']))).toContain('--bogus');
    expect(expectUsageError(await raibid(['api', '--listen']))).toContain('--listen');
  });

  it('api --listen must be HOST:PORT', async () => {
    const line = expectUsageError(await raibid(['api', '--listen', 'nope']));
    expect(line).toContain('--listen');
    expect(line).toContain('"nope"');
    expectUsageError(await raibid(['api', '--listen', '0.0.0.0']));
    expectUsageError(await raibid(['api', 'extra']));
  });

  it('agent takes nothing or "drain"', async () => {
    expect(expectUsageError(await raibid(['agent', 'extra']))).toContain('"extra"');
    expect(expectUsageError(await raibid(['agent', 'drain', 'more']))).toContain('"more"');
  });
});

/** A settings file the API accepts. */
const GOOD_SETTINGS = `listen: 0.0.0.0:8080
publicUrl: http://ci.example.lan/
pools:
  - name: rust
    mode: ephemeral
    stream: ci-jobs
    group: agents
defaultPool: rust
retentionSeconds: 3600
`;

describe('raibid api start-up checks', () => {
  let dir: string;
  const settingsFile = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const apiEnv = (settings: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    [API_ENV.settings]: settings,
    [API_ENV.redisUrl]: 'redis://redis.ci.svc:6379',
    [API_ENV.redisUsername]: 'raibid-api',
    [API_ENV.redisPassword]: REDIS_PASSWORD,
    [API_ENV.giteaUrl]: 'http://gitea.example.lan:3000',
    [API_ENV.giteaToken]: GITEA_TOKEN,
    [API_ENV.webhookSecret]: WEBHOOK_SECRET,
    [API_ENV.adminToken]: ADMIN_TOKEN,
    [API_ENV.readToken]: READ_TOKEN,
    ...extra,
  });
  /** Runs `raibid api` and returns the problem lines of its one message. */
  const problemsOf = async (env: NodeJS.ProcessEnv, argv: string[] = ['api']): Promise<string[]> => {
    const r = await raibid(argv, env);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^raibid api cannot start \(\d+ problems?\):\n/);
    expect(r.err[0]).not.toMatch(/\n\s+at /);
    expectNoSecret(r.err[0]);
    return r.err[0].split('\n').slice(1).map((l) => l.trim());
  };

  beforeAll(() => {
    dir = tempDir('api');
  });

  it('a good environment and settings file load (the cases below differ from it in one thing each)', () => {
    const c = loadApiConfig(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS)));
    expect(c.settings).toMatchObject({ listen: '0.0.0.0:8080', defaultPool: 'rust', namespace: 'ci', durability: 'aof' });
    expect(c.tokens).toEqual({ admin: ADMIN_TOKEN, read: READ_TOKEN });
    expect(c.redis).toEqual({ url: 'redis://redis.ci.svc:6379', username: 'raibid-api', password: REDIS_PASSWORD });
    // --listen overrides the file's listen.
    expect(loadApiConfig(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS)), { listen: '127.0.0.1:9999' }).settings.listen).toBe('127.0.0.1:9999');
  });

  it('an empty environment lists every missing variable at once', async () => {
    const problems = await problemsOf({});
    expect(problems).toEqual([API_ENV.settings, API_ENV.redisUrl, API_ENV.giteaUrl, API_ENV.giteaToken, API_ENV.webhookSecret, API_ENV.adminToken].map((v) => `${v} is not set`));
  });

  it('refuses a too-short WEBHOOK_SECRET or token without echoing it', async () => {
    const problems = await problemsOf(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS), { [API_ENV.webhookSecret]: SHORT_SECRET, [API_ENV.adminToken]: SHORT_SECRET }));
    expect(problems).toEqual([`${API_ENV.webhookSecret} must be at least 16 characters`, `${API_ENV.adminToken} must be at least 16 characters`]);
  });

  it('refuses a read token equal to the admin token, listed with the other problems', async () => {
    expect(await problemsOf(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS), { [API_ENV.readToken]: ADMIN_TOKEN }))).toEqual([`${API_ENV.readToken} must differ from ${API_ENV.adminToken}`]);
    const withOthers = await problemsOf(apiEnv(join(dir, 'absent.yaml'), { [API_ENV.readToken]: ADMIN_TOKEN, [API_ENV.redisUrl]: 'http://redis:6379' }));
    expect(withOthers).toEqual([`${API_ENV.redisUrl} must be a redis:// URL`, `${API_ENV.readToken} must differ from ${API_ENV.adminToken}`, `${join(dir, 'absent.yaml')}: no such file`]);
  });

  it('refuses malformed URLs, naming the variable and not the value', async () => {
    const url = `redis://:${REDIS_PASSWORD}@redis:6379`;
    const problems = await problemsOf(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS), { [API_ENV.redisUrl]: url.replace('redis://', 'http://'), [API_ENV.giteaUrl]: 'gitea' }));
    expect(problems).toEqual([`${API_ENV.redisUrl} must be a redis:// URL`, `${API_ENV.giteaUrl} must be an http(s) URL`]);
    expect(await problemsOf(apiEnv(settingsFile('good.yaml', GOOD_SETTINGS), { [API_ENV.giteaUrl]: 'ftp://gitea.example.lan' }))).toEqual([`${API_ENV.giteaUrl} must be an http(s) URL`]);
  });

  it('lists every problem of the settings file with its key', async () => {
    const file = settingsFile('bad.yaml', GOOD_SETTINGS.replace('listen: 0.0.0.0:8080', 'listen: nope').replace('retentionSeconds: 3600', 'retentionSeconds: 10\nlisten_port: 8080'));
    const problems = await problemsOf(apiEnv(file));
    expect(problems).toHaveLength(3);
    expect(problems).toContainEqual(`${file}: listen: expected host:port`);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^${file}: retentionSeconds: .*60`)));
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^${file}: \\(top level\\): .*"listen_port"`)));
  });

  it('refuses a defaultPool that is not one of the pools', async () => {
    const file = settingsFile('pool.yaml', GOOD_SETTINGS.replace('defaultPool: rust', 'defaultPool: docs'));
    expect(await problemsOf(apiEnv(file))).toEqual([`${file}: defaultPool: "docs" is not one of the pools`]);
  });

  it('refuses malformed YAML with its line, and a missing file', async () => {
    const file = settingsFile('malformed.yaml', 'listen: 0.0.0.0:8080\npools: [\n  { name: rust\n');
    const [problem, ...rest] = await problemsOf(apiEnv(file));
    expect(rest).toEqual([]);
    expect(problem).toMatch(new RegExp(`^${file}: .*line \\d+`));
    const missing = join(dir, 'missing.yaml');
    expect(await problemsOf(apiEnv(missing))).toEqual([`${missing}: no such file`]);
  });

  it('throws StartupError with the problems as a list', () => {
    let error: unknown;
    try {
      loadApiConfig({});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StartupError);
    expect((error as StartupError).problems).toHaveLength(6);
  });
});

describe('raibid agent start-up checks', () => {
  const agentEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {
      [AGENT_ENV.pool]: 'rust',
      [AGENT_ENV.mode]: 'pooled',
      [AGENT_ENV.maxConcurrentJobs]: '4',
      [AGENT_ENV.redisUrl]: 'redis://redis.ci.svc:6379',
      [AGENT_ENV.redisUsername]: 'raibid-agent',
      [AGENT_ENV.redisPassword]: REDIS_PASSWORD,
      [AGENT_ENV.stream]: 'ci-jobs',
      [AGENT_ENV.group]: 'agents',
      [AGENT_ENV.consumer]: 'agent-rust-0',
      [AGENT_ENV.giteaUrl]: 'http://gitea.example.lan:3000/',
      [AGENT_ENV.giteaUser]: 'raibid-bot',
      [AGENT_ENV.giteaToken]: GITEA_TOKEN,
      ...extra,
    };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    return env;
  };
  const problemsOf = async (env: NodeJS.ProcessEnv): Promise<string[]> => {
    const r = await raibid(['agent'], env);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^raibid agent cannot start \(\d+ problems?\):\n/);
    expect(r.err[0]).not.toMatch(/\n\s+at /);
    expectNoSecret(r.err[0]);
    return r.err[0].split('\n').slice(1).map((l) => l.trim());
  };

  it('a good environment loads (the cases below differ from it in one thing each)', () => {
    const c = loadAgentConfig(agentEnv());
    expect(c).toMatchObject({ pool: 'rust', mode: 'pooled', slots: 4, stream: 'ci-jobs', gitea: { url: 'http://gitea.example.lan:3000', user: 'raibid-bot', token: GITEA_TOKEN } });
  });

  it('an empty environment lists every missing variable as not set', async () => {
    const problems = await problemsOf({});
    const required = [AGENT_ENV.pool, AGENT_ENV.mode, AGENT_ENV.redisUrl, AGENT_ENV.stream, AGENT_ENV.group, AGENT_ENV.consumer, AGENT_ENV.giteaUrl, AGENT_ENV.giteaUser, AGENT_ENV.giteaToken];
    expect(problems).toEqual(required.map((v) => `${v}: is not set`));
  });

  it('direct mode needs RAIBID_JOB_ID', async () => {
    expect(await problemsOf(agentEnv({ [AGENT_ENV.mode]: 'direct', [AGENT_ENV.maxConcurrentJobs]: undefined }))).toEqual([`${AGENT_ENV.jobId}: is not set (direct-mode agents run the job the API names)`]);
    expect(loadAgentConfig(agentEnv({ [AGENT_ENV.mode]: 'direct', [AGENT_ENV.maxConcurrentJobs]: undefined, [AGENT_ENV.jobId]: '0m0abcdefxyz123' })).jobId).toBe('0m0abcdefxyz123');
  });

  it('only pooled agents take more than one job', async () => {
    expect(await problemsOf(agentEnv({ [AGENT_ENV.mode]: 'ephemeral' }))).toEqual([`${AGENT_ENV.maxConcurrentJobs}: ephemeral agents run one job; only pooled agents take 4`]);
  });

  it('refuses a non-redis URL without echoing it', async () => {
    expect(await problemsOf(agentEnv({ [AGENT_ENV.redisUrl]: `http://:${REDIS_PASSWORD}@redis:6379` }))).toEqual([`${AGENT_ENV.redisUrl}: expected a redis:// URL`]);
  });

  it('lists the rules between variables along with a malformed one', async () => {
    const problems = await problemsOf(agentEnv({ [AGENT_ENV.mode]: 'direct', [AGENT_ENV.redisUrl]: 'http://redis:6379' }));
    expect(problems).toEqual([
      `${AGENT_ENV.redisUrl}: expected a redis:// URL`,
      `${AGENT_ENV.jobId}: is not set (direct-mode agents run the job the API names)`,
      `${AGENT_ENV.maxConcurrentJobs}: direct agents run one job; only pooled agents take 4`,
    ]);
  });

  it('throws AgentStartupError with the problems as a list', () => {
    expect(() => loadAgentConfig({})).toThrow(AgentStartupError);
  });
});

describe('start-up messages never carry a secret', () => {
  it('no message printed above contains a secret value', () => {
    // Runs after the two describe blocks above (vitest runs a file's tests in order).
    expect(printed.length).toBeGreaterThanOrEqual(10);
    for (const text of printed) for (const s of SECRETS) expect(text).not.toContain(s);
  });
});

describe('the raibid bundle (what the images run)', () => {
  let bundle: string;
  let runDir: string;
  const run = (args: string[]) => {
    // A bare environment: no NODE_OPTIONS or NODE_PATH from the test runner, nothing to resolve packages with.
    const r = spawnSync(process.execPath, [bundle, ...args], { cwd: runDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    const built = await bundleRaibid(join(tempDir('bundle'), 'raibid.mjs'));
    expect(built.bytes).toBeGreaterThan(0);
    runDir = tempDir('run');
    bundle = join(runDir, 'raibid.mjs');
    copyFileSync(built.outfile, bundle);
  });

  it('runs from a folder with no node_modules anywhere above it', () => {
    expect(readdirSync(runDir)).toEqual(['raibid.mjs']);
    for (let d = runDir; ; d = dirname(d)) {
      expect(existsSync(join(d, 'node_modules')), `${d}/node_modules`).toBe(false);
      if (dirname(d) === d) break;
    }
  });

  it('--version prints the version', () => {
    expect(run(['--version'])).toEqual({ code: 0, stdout: `${PACKAGE_VERSION}\n`, stderr: '' });
  });

  it('--help, api --help and agent --help print their help', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`raibid ${PACKAGE_VERSION}: the raibid-ci runtime`);
    const api = run(['api', '--help']);
    expect(api.code).toBe(0);
    expect(api.stdout).toMatch(/^Usage: raibid api \[--listen HOST:PORT\]/);
    const agent = run(['agent', '--help']);
    expect(agent.code).toBe(0);
    expect(agent.stdout).toMatch(/^Usage: raibid agent \[drain\]/);
  });

  it('loads the API server and the agent (their lazily imported modules are in the bundle)', () => {
    const api = run(['api']);
    expect(api.code).toBe(2);
    expect(api.stderr).toMatch(/^raibid api cannot start \(6 problems\):\n/);
    const agent = run(['agent']);
    expect(agent.code).toBe(2);
    expect(agent.stderr).toMatch(/^raibid agent cannot start \(9 problems\):\n/);
    for (const r of [api, agent]) expect(r.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
  });

  it('loads the mirror reconciler (what the mirror CronJob runs)', () => {
    const mirror = run(['mirror', 'sync']);
    expect(mirror.code).toBe(2);
    expect(mirror.stderr).toMatch(/^raibid mirror sync cannot start \(3 problems\):\n/);
    expect(mirror.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
  });

  it('a user mistake exits 2 with one line', () => {
    expect(run(['bogus'])).toEqual({ code: 2, stdout: '', stderr: 'raibid: unknown command "bogus"; run "raibid --help"\n' });
  });

  it('contains no module of the stack', () => {
    // esbuild (not minified) marks each bundled module with a `// node_modules/<path>` comment.
    const text = readFileSync(bundle, 'utf8');
    expect(text).toMatch(/^\/\/ node_modules\/fastify\//m);
    expect(text).not.toMatch(/^\/\/ node_modules\/(cdk8s|cdk8s-plus-\d+|constructs|@pulumi|kubernetes-models|@kubernetes-models)\//m);
  });

  it.each(['cdk8s', 'cdk8s-plus-28', 'constructs', '@pulumi/pulumi', '@pulumi/kubernetes/core/v1', 'kubernetes-models/v1'])('bundling fails naming the importer when a runtime file imports %s', async (pkg) => {
    const dir = tempDir('refuse');
    writeFileSync(join(dir, 'entry.ts'), "import { run } from './runtime-file.js';\nrun();\n");
    writeFileSync(join(dir, 'runtime-file.ts'), `import * as stack from '${pkg}';\nexport const run = () => console.log(stack);\n`);
    const attempt = build({ entryPoints: [join(dir, 'entry.ts')], bundle: true, write: false, platform: 'node', format: 'esm', logLevel: 'silent', plugins: [refuseStack] });
    await expect(attempt).rejects.toThrow(`the runtime imports ${pkg} (from ${join(dir, 'runtime-file.ts')}); runtime code must not import the stack`);
  });
});

/** Runtime code: what the API and agent images run. */
const RUNTIME_DIRS = ['src/jobs', 'src/cli', 'src/api/server', 'src/agents/runner', 'src/mirror/sync'];
const RUNTIME_FILES = ['src/api/contract.ts', 'src/agents/contract.ts', 'src/gitea/client.ts', 'src/mirror/contract.ts', 'src/mirror/match.ts', 'src/mirror/cli.ts'];
const FORBIDDEN = /^(cdk8s|cdk8s-plus-\d+|constructs|@pulumi\/.+|kubernetes-models|@kubernetes-models\/.+)(\/.*)?$/;

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFilesUnder(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** A relative import specifier as the file it names (NodeNext: `./x.js` is `./x.ts`). */
function resolveRelative(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const c of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')]) if (existsSync(c) && statSync(c).isFile()) return c;
  throw new Error(`${relative(ROOT, from)}: cannot resolve ${spec}`);
}

/**
 * Every package import reachable from `roots` through relative imports (static, type-only, re-exports
 * and dynamic `import()` alike, as TypeScript's own pre-processor reads them).
 */
function reachableImports(roots: readonly string[]): { files: Set<string>; packages: { file: string; spec: string; via: string[] }[] } {
  const files = new Set<string>();
  const packages: { file: string; spec: string; via: string[] }[] = [];
  const queue: { file: string; via: string[] }[] = roots.map((f) => ({ file: f, via: [] }));
  while (queue.length) {
    const { file, via } = queue.shift()!;
    if (files.has(file)) continue;
    files.add(file);
    if (!file.endsWith('.ts')) continue;
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (spec.startsWith('.')) queue.push({ file: resolveRelative(file, spec), via: [...via, relative(ROOT, file)] });
      else packages.push({ file: relative(ROOT, file), spec, via });
    }
  }
  return { files, packages };
}

describe('runtime code never imports the stack', () => {
  const roots = [...RUNTIME_DIRS.flatMap((d) => tsFilesUnder(join(ROOT, d))), ...RUNTIME_FILES.map((f) => join(ROOT, f))];

  it('no runtime file reaches cdk8s, constructs, Pulumi or kubernetes-models, directly or through relative imports', () => {
    const { files, packages } = reachableImports(roots);
    // The walk really went through the runtime and beyond it (pipeline.ts → config/quantity.ts).
    expect(files.size).toBeGreaterThan(roots.length);
    expect(files).toContain(join(ROOT, 'src/config/quantity.ts'));
    expect(packages.map((p) => p.spec)).toEqual(expect.arrayContaining(['zod', 'ioredis', 'fastify']));
    const offenders = packages.filter((p) => FORBIDDEN.test(p.spec)).map((p) => `${[...p.via, p.file].join(' → ')} imports ${p.spec}`);
    expect(offenders).toEqual([]);
  });

  it('the guard matches what the bundle refuses, and catches a construct', () => {
    for (const spec of ['cdk8s', 'cdk8s-plus-28', 'constructs', '@pulumi/pulumi', 'kubernetes-models/v1', '@kubernetes-models/keda']) {
      expect(FORBIDDEN.test(spec), spec).toBe(true);
      expect(STACK_PACKAGES.test(spec), spec).toBe(true);
    }
    for (const spec of ['zod', '@kubernetes/client-node', 'constructs-extra', 'pulumi']) expect(FORBIDDEN.test(spec), spec).toBe(false);
    // The API construct deploys the server; it imports cdk8s, and the walk sees it.
    const { packages } = reachableImports([join(ROOT, 'src/api/api.ts')]);
    expect(packages.some((p) => FORBIDDEN.test(p.spec))).toBe(true);
  });
});
