/**
 * A real Redis-protocol server for runtime tests, set up exactly as the manifests set up Redis: the
 * synthesized redis.conf (only the pod paths and the listen address are pointed at a temporary folder
 * and a free loopback port), the ACL file made by the synthesized build-acl.sh (run with sh, as the init
 * container runs it), and the stream groups made by the synthesized init-streams.sh (the postStart hook).
 *
 * The server is valkey-server (8.0, a Redis 7.2 fork: WAITAOF) when installed, else redis-server; the
 * production image is Redis 8, so only XACKDEL (Redis 8.2) is not exercised here, and the runtime falls
 * back to XACK + XDEL in one script, which the tests then cover.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findObject, objectsUnder } from '../helpers.js';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** The server binary the runtime tests use, or undefined when neither is installed. */
export const REDIS_BINARY: string | undefined = has('valkey-server') ? 'valkey-server' : has('redis-server') ? 'redis-server' : undefined;
/** Whether that server has WAITAOF (Redis ≥ 7.2 or Valkey). */
export const HAS_WAITAOF = REDIS_BINARY === 'valkey-server' || (REDIS_BINARY !== undefined && /v=(7\.[2-9]|[89]\.|\d{2,}\.)/.test(spawnSync(REDIS_BINARY, ['--version'], { encoding: 'utf8' }).stdout));
export const SKIP_REASON = 'SKIPPED: neither valkey-server nor redis-server is on PATH (.ci/run installs them)';

export interface RedisUserCredentials {
  readonly username: string;
  readonly password: string;
}

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly binary: string;
  readonly api: RedisUserCredentials;
  readonly agent: RedisUserCredentials;
  readonly keda: RedisUserCredentials;
  /** The synthesized ConfigMap files. */
  readonly files: Record<string, string>;
  /** Sends a signal to the server (SIGKILL to crash it). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same data and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`Redis did not listen on ${port} within ${ms} ms`);
}

/** Starts Redis for a raibid.yaml (default config when empty); `binary` picks the server. */
export async function startRedis(yaml = '', binary: string | undefined = REDIS_BINARY): Promise<TestRedis> {
  if (!binary) throw new Error(SKIP_REASON);
  const files = findObject(objectsUnder('infrastructure/configs/redis/', yaml), 'ConfigMap', 'redis-config').data as Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'raibid-redis-'));
  for (const d of ['users', 'run', 'data']) mkdirSync(join(dir, d));
  const port = await freePort();
  const passwords = { 'api-password': 'api-test-password-1', 'agent-password': 'agent-test-password-2', 'keda-password': 'keda-test-password-3' };
  for (const [k, v] of Object.entries(passwords)) writeFileSync(join(dir, 'users', k), v);
  const pod: Record<string, string> = { bind: '127.0.0.1', port: String(port), dir: join(dir, 'data'), aclfile: join(dir, 'run', 'users.acl') };
  const conf = files['redis.conf']
    .split('\n')
    .map((l) => (pod[l.split(' ')[0]] !== undefined ? `${l.split(' ')[0]} ${pod[l.split(' ')[0]]}` : l))
    .join('\n');
  writeFileSync(join(dir, 'redis.conf'), conf);
  const env = { ...process.env, RAIBID_REDIS_USERS_DIR: join(dir, 'users'), RAIBID_REDIS_RUN_DIR: join(dir, 'run'), RAIBID_REDIS_HOST: '127.0.0.1', RAIBID_REDIS_PORT: String(port), RAIBID_REDIS_SERVER: binary };
  const acl = spawnSync('sh', ['-c', files['build-acl.sh']], { encoding: 'utf8', env });
  if (acl.status !== 0) throw new Error(`build-acl.sh failed: ${acl.stderr}`);

  let server: ChildProcess | undefined;
  const start = async () => {
    server = spawn(binary, [join(dir, 'redis.conf'), '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
    await waitForPort(port, 10_000);
    const init = spawnSync('sh', ['-c', files['init-streams.sh']], { encoding: 'utf8', env });
    if (init.status !== 0) throw new Error(`init-streams.sh failed: ${init.stderr}\n${readFileSync(join(dir, 'redis.log'), 'utf8').slice(-2000)}`);
  };
  const exited = (p: ChildProcess | undefined) => new Promise<void>((resolve) => (!p || p.exitCode !== null || p.signalCode !== null ? resolve() : p.once('exit', () => resolve())));
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    binary,
    files,
    api: { username: 'raibid-api', password: passwords['api-password'] },
    agent: { username: 'raibid-agent', password: passwords['agent-password'] },
    keda: { username: 'raibid-keda', password: passwords['keda-password'] },
    async kill(signal = 'SIGKILL') {
      const p = server;
      p?.kill(signal);
      await exited(p);
    },
    async restart() {
      await start();
    },
    async stop() {
      const p = server;
      p?.kill('SIGTERM');
      await exited(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
