/**
 * Real processes for end-to-end tests: `raibid api` and `raibid agent`, run from the esbuild bundle (what
 * the images run) with the environment the generated manifests give them. Each `valueFrom` is resolved
 * the way the kubelet would: Secret keys from the test's secrets, `metadata.name` from the pod name.
 * Only addresses (Redis, Gitea, the listen port), folders the pod would mount, and the heartbeat TTL
 * (so the reaper acts within seconds) are pointed at this machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { bundleRaibid } from '../../src/images/bundle.js';
import { findObject, objectsUnder, podSpecOf, type K8sObject } from '../helpers.js';
import { ADMIN_TOKEN, BOT_TOKEN, READ_TOKEN, WEBHOOK_SECRET, synthesizedApiSettings } from './api-harness.js';
import { freePort, type TestRedis } from './redis.js';

let bundled: Promise<string> | undefined;
/** Bundles the raibid command once per test file. */
export function raibidBundle(): Promise<string> {
  bundled ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raibid-bundle-'));
    return (await bundleRaibid(join(dir, 'raibid.mjs'))).outfile;
  })();
  return bundled;
}

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } };

/** The container's environment with every reference resolved. */
export function resolveEnv(env: readonly EnvVar[], secrets: Record<string, string>, podName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const k = `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
      if (secrets[k] === undefined) throw new Error(`test secrets lack ${k} (env ${e.name})`);
      out[e.name] = secrets[k];
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = podName;
    else throw new Error(`cannot resolve env ${e.name}`);
  }
  return out;
}

/** Values of the catalogue's Secrets as the tests create them. */
export function testSecrets(redis: TestRedis): Record<string, string> {
  return {
    'redis-api/username': redis.api.username,
    'redis-api/password': redis.api.password,
    'redis-agent/username': redis.agent.username,
    'redis-agent/password': redis.agent.password,
    'gitea-agent-token/token': BOT_TOKEN,
    'webhook-hmac/secret': WEBHOOK_SECRET,
    'raibid-api-tokens/admin': ADMIN_TOKEN,
    'raibid-api-tokens/read': READ_TOKEN,
    'github-webhook-hmac/secret': 'github-webhook-secret-for-tests-0123456789',
  };
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

function run(name: string, bundle: string, args: string[], env: Record<string, string>, cwd: string): Proc {
  const child = spawn(process.execPath, [bundle, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))));
  return {
    name,
    child,
    output: () => out,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LANG: 'C.UTF-8',
  LOG_LEVEL: 'info',
});

export interface ApiProc extends Proc {
  readonly url: string;
}

/** `raibid api` with the Deployment's environment and the synthesized settings file. */
export async function startApiProcess(redis: TestRedis, giteaUrl: string, opts: { yaml?: string; settings?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<ApiProc> {
  const bundle = await raibidBundle();
  const deployment = findObject(objectsUnder('apps/api/', opts.yaml), 'Deployment', 'raibid-api');
  const container = podSpecOf(deployment).containers[0];
  const dir = mkdtempSync(join(tmpdir(), 'raibid-api-'));
  const port = await freePort();
  const settingsFile = join(dir, 'config.yaml');
  writeFileSync(settingsFile, stringify({ ...synthesizedApiSettings(opts.yaml), listen: `127.0.0.1:${port}`, reaperIntervalMs: 300, reaperMinIdleMs: 500, ...opts.settings }));
  const env = {
    ...baseEnv(),
    ...resolveEnv(container.env, testSecrets(redis), 'raibid-api-0'),
    RAIBID_API_CONFIG: settingsFile,
    REDIS_URL: redis.url,
    GITEA_URL: giteaUrl,
    ...opts.env,
  };
  const p = run('api', bundle, ['api'], env, dir);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (p.child.exitCode !== null) throw new Error(`raibid api exited:\n${p.output()}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { ...p, url };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`raibid api did not become ready:\n${p.output()}`);
}

export interface AgentProc extends Proc {
  readonly healthUrl: string;
  readonly workspace: string;
}

/** The agent container of a pool, whatever its mode. */
export function agentContainer(pool: string, yaml?: string): { container: K8sObject['spec']; template: K8sObject } {
  const objs = objectsUnder('apps/agents/', yaml);
  const workload = objs.find((o) => ['ScaledJob', 'Deployment'].includes(o.kind) && o.metadata.name === `agent-${pool}`);
  if (workload) return { container: podSpecOf(workload).containers[0], template: workload };
  const cm = findObject(objs, 'ConfigMap', `agent-${pool}-job`);
  const job = parseYaml(cm.data['job.yaml']) as K8sObject;
  return { container: job.spec.template.spec.containers[0], template: job };
}

/** Folders shared by every agent of a test run, as the pool's cache volumes are. */
export function sharedCaches(): { cargo: string; sccache: string } {
  const root = mkdtempSync(join(tmpdir(), 'raibid-caches-'));
  const c = { cargo: join(root, 'cargo'), sccache: join(root, 'sccache') };
  mkdirSync(c.cargo);
  mkdirSync(c.sccache);
  return c;
}

/** `raibid agent` with the pool's pod environment. */
export async function startAgentProcess(
  redis: TestRedis,
  giteaUrl: string,
  opts: { pool: string; name: string; yaml?: string; env?: Record<string, string>; caches?: { cargo: string; sccache: string }; publicUrl?: string; waitReady?: boolean; container?: { env: EnvVar[] } },
): Promise<AgentProc> {
  const bundle = await raibidBundle();
  const container = opts.container ?? agentContainer(opts.pool, opts.yaml).container;
  const root = mkdtempSync(join(tmpdir(), `raibid-${opts.name}-`));
  const workspace = join(root, 'workspace');
  const home = join(root, 'home');
  mkdirSync(workspace);
  mkdirSync(home);
  const caches = opts.caches ?? sharedCaches();
  const port = await freePort();
  const env: Record<string, string> = {
    ...baseEnv(),
    ...resolveEnv(container.env, testSecrets(redis), opts.name),
    REDIS_URL: redis.url,
    GITEA_URL: giteaUrl,
    RAIBID_WORKSPACE: workspace,
    HOME: home,
    CARGO_HOME: caches.cargo,
    SCCACHE_DIR: caches.sccache,
    RAIBID_HEALTH_PORT: String(port),
    RAIBID_HEARTBEAT_SECONDS: '2',
    RAIBID_KILL_GRACE_SECONDS: '2',
    // The rustup toolchain of this machine (its proxies find it through RUSTUP_HOME, not $HOME).
    RUSTUP_HOME: process.env.RUSTUP_HOME ?? join(homedir(), '.rustup'),
    PATH: [join(homedir(), '.cargo', 'bin'), process.env.PATH ?? '/usr/bin:/bin'].join(':'),
    ...(opts.publicUrl ? { RAIBID_PUBLIC_URL: opts.publicUrl } : {}),
    ...opts.env,
  };
  const p = run(opts.name, bundle, ['agent'], env, root);
  const healthUrl = `http://127.0.0.1:${port}`;
  if (opts.waitReady !== false) {
    for (let i = 0; i < 200; i++) {
      if (p.child.exitCode !== null) break;
      try {
        if ((await fetch(`${healthUrl}/healthz`)).ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ...p, healthUrl, workspace };
}
