/**
 * Redis against a real redis-server: the synthesized redis.conf, the ACL file made by the synthesized
 * build-acl.sh (run with sh, as the init container runs it), the synthesized init-streams.sh (as the
 * postStart hook runs it). Only the four lines that name pod paths and the listen address are pointed
 * at a temporary directory and a free loopback port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findObject, objectsUnder } from './helpers.js';

const HAVE_REDIS = spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' }).status === 0;
const TITLE = HAVE_REDIS
  ? 'Redis against a real redis-server'
  : 'Redis against a real redis-server — SKIPPED: redis-server or redis-cli is not on PATH (apt-get install -y redis-server)';

if (!HAVE_REDIS) console.warn(`test/redis-server.test.ts: ${TITLE}`);

const POOLS = 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      group: ci-workers\n    - name: docs\n      stream: ci-docs\n      group: docs-workers\n';

class RedisError extends Error {}
type Reply = string | number | null | Reply[];

/** A minimal RESP2 client: one command at a time. */
class Client {
  private buffer = Buffer.alloc(0);
  private waiting: ((r: Reply | RedisError) => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const parsed = parse(this.buffer, 0);
        if (!parsed) break;
        this.buffer = this.buffer.subarray(parsed[1]);
        this.waiting.shift()?.(parsed[0]);
      }
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = new Socket();
      s.once('error', reject);
      s.connect(port, '127.0.0.1', () => resolve(new Client(s)));
    });
  }

  /** Sends a command; resolves with the reply, rejects with a RedisError on an error reply. */
  call(...args: string[]): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting.push((r) => (r instanceof RedisError ? reject(r) : resolve(r)));
      this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function parse(buf: Buffer, at: number): [Reply | RedisError, number] | undefined {
  const end = buf.indexOf('\r\n', at);
  if (end < 0) return undefined;
  const line = buf.toString('utf8', at + 1, end);
  const next = end + 2;
  switch (String.fromCharCode(buf[at])) {
    case '+':
      return [line, next];
    case '-':
      return [new RedisError(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item[0] instanceof RedisError ? item[0].message : item[0]);
        pos = item[1];
      }
      return [items, pos];
    }
    default:
      throw new Error(`unexpected RESP type in ${JSON.stringify(buf.toString('utf8', at, end))}`);
  }
}

function freePort(): Promise<number> {
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

describe.skipIf(!HAVE_REDIS).sequential(TITLE, () => {
  const files = findObject(objectsUnder('infrastructure/configs/redis/', POOLS), 'ConfigMap', 'redis-config').data as Record<string, string>;
  const passwords = { 'api-password': 'api-Secret-value-1', 'agent-password': 'agent-Secret-value-2', 'keda-password': 'keda-Secret-value-3' };
  let root = '';
  let port = 0;
  let server: ChildProcess | undefined;
  const clients: Client[] = [];

  const run = (name: 'build-acl.sh' | 'init-streams.sh') =>
    spawnSync('sh', ['-c', files[name]], {
      encoding: 'utf8',
      env: { ...process.env, RAIBID_REDIS_USERS_DIR: join(root, 'users'), RAIBID_REDIS_RUN_DIR: join(root, 'run'), RAIBID_REDIS_HOST: '127.0.0.1', RAIBID_REDIS_PORT: String(port) },
    });

  async function start(): Promise<void> {
    const log = join(root, 'redis.log');
    server = spawn('redis-server', [join(root, 'redis.conf'), '--logfile', log], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        const c = await Client.connect(port);
        c.close();
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`redis-server did not start:\n${readFileSync(log, 'utf8')}`);
  }

  async function stop(signal: NodeJS.Signals): Promise<void> {
    const s = server;
    if (!s || s.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      s.once('exit', () => resolve());
      s.kill(signal);
    });
    server = undefined;
  }

  /** A connection authenticated as `user` (no AUTH when user is undefined). */
  async function as(user?: string, password?: string): Promise<Client> {
    const c = await Client.connect(port);
    clients.push(c);
    if (user) await c.call('AUTH', user, password ?? '');
    return c;
  }
  const api = () => as('raibid-api', passwords['api-password']);
  const agent = () => as('raibid-agent', passwords['agent-password']);
  const keda = () => as('raibid-keda', passwords['keda-password']);
  const init = () => as('raibid-init', readFileSync(join(root, 'run', 'init-password'), 'utf8'));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'raibid-redis-'));
    for (const d of ['users', 'run', 'data']) mkdirSync(join(root, d));
    for (const [k, v] of Object.entries(passwords)) writeFileSync(join(root, 'users', k), v);
    port = await freePort();
    const pod: Record<string, string> = { bind: '127.0.0.1', port: String(port), dir: join(root, 'data'), aclfile: join(root, 'run', 'users.acl') };
    const lines = files['redis.conf'].split('\n').map((l) => {
      const key = l.split(' ')[0];
      return key in pod ? `${key} ${pod[key]}` : l;
    });
    for (const key of Object.keys(pod)) expect(files['redis.conf'].split('\n').filter((l) => l.startsWith(`${key} `)), key).toHaveLength(1);
    writeFileSync(join(root, 'redis.conf'), lines.join('\n'));
    const acl = run('build-acl.sh');
    expect(acl.stderr).toBe('');
    expect(acl.status).toBe(0);
    await start();
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await stop('SIGTERM');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('stores only password hashes in the ACL file, with the default user off', () => {
    const acl = readFileSync(join(root, 'run', 'users.acl'), 'utf8');
    for (const v of Object.values(passwords)) expect(acl).not.toContain(v);
    expect(acl.split('\n')[0]).toBe('user default off resetpass ~* &* +@all');
    expect(acl.match(/ on #[0-9a-f]{64} /g)).toHaveLength(4);
  });

  it('refuses clients without credentials or with a wrong password', async () => {
    const anon = await as();
    await expect(anon.call('PING')).rejects.toThrow(/^NOAUTH/);
    await expect(anon.call('AUTH', 'default', '')).rejects.toThrow(/^WRONGPASS/);
    await expect(anon.call('AUTH', 'raibid-api', 'not-the-password')).rejects.toThrow(/^WRONGPASS/);
  });

  it('creates every pool stream and group, and succeeds again when they exist (BUSYGROUP)', async () => {
    const first = run('init-streams.sh');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('init-streams: created group ci-workers on stream ci-jobs\ninit-streams: created group docs-workers on stream ci-docs\n');
    const again = run('init-streams.sh');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe('init-streams: group ci-workers on stream ci-jobs exists\ninit-streams: group docs-workers on stream ci-docs exists\n');
    const k = await keda();
    const groups = (await k.call('XINFO', 'GROUPS', 'ci-jobs')) as Reply[][];
    expect(groups.map((g) => g[1])).toEqual(['ci-workers']);
  });

  it('lets every user PING', async () => {
    for (const c of [await api(), await agent(), await keda(), await init()]) expect(await c.call('PING')).toBe('PONG');
  });

  it('lets the API queue jobs and keep their records, and nothing else', async () => {
    const c = await api();
    expect(await c.call('XADD', 'ci-jobs', '*', 'repo', 'raibid/one')).toMatch(/^\d+-\d+$/);
    expect(await c.call('XADD', 'ci-docs', '*', 'repo', 'raibid/docs')).toMatch(/^\d+-\d+$/);
    expect(await c.call('HSET', 'raibid:job:x', 'status', 'queued')).toBe(1);
    expect(await c.call('XADD', 'ci-jobs:dead', '*', 'job', 'x')).toMatch(/^\d+-\d+$/);
    expect(await c.call('XLEN', 'ci-jobs')).toBe(1);
    expect(await c.call('DEL', 'raibid:job:x')).toBe(1);
    await expect(c.call('DEL', 'raibid:job:x', 'ci-jobs:dead')).rejects.toThrow(/^NOPERM/);
    await expect(c.call('XADD', 'other-stream', '*', 'a', 'b')).rejects.toThrow(/^NOPERM/);
    // Overwriting commands reach only raibid:* keys, never a pool stream.
    for (const cmd of [['DEL', 'ci-jobs'], ['EXPIRE', 'ci-jobs', '1'], ['SET', 'ci-jobs', 'v'], ['SET', 'k', 'v'], ['XTRIM', 'ci-jobs', 'MAXLEN', '0'], ['KEYS', '*'], ['SCAN', '0'], ['FLUSHALL'], ['CONFIG', 'GET', 'dir'], ['ACL', 'LIST'], ['XGROUP', 'DESTROY', 'ci-jobs', 'ci-workers'], ['SHUTDOWN'], ['SCRIPT', 'FLUSH'], ['FUNCTION', 'FLUSH']]) {
      await expect(c.call(...cmd), cmd.join(' ')).rejects.toThrow(/^NOPERM/);
    }
    // Scripts run with the caller's rights, command by command.
    await expect(c.call('EVAL', "return redis.call('DEL', KEYS[1])", '1', 'ci-jobs')).rejects.toThrow(/can't access at least one of the keys/);
  });

  it('lets agents consume, acknowledge, take over jobs and write their records and logs, and nothing else', async () => {
    const c = await agent();
    const read = (await c.call('XREADGROUP', 'GROUP', 'ci-workers', 'agent-1', 'COUNT', '1', 'STREAMS', 'ci-jobs', '>')) as [string, [string, string[]][]][];
    const [[stream, [[id, fields]]]] = read;
    expect([stream, fields]).toEqual(['ci-jobs', ['repo', 'raibid/one']]);
    expect(await c.call('XCLAIM', 'ci-jobs', 'ci-workers', 'agent-2', '0', id, 'JUSTID')).toEqual([id]);
    expect(await c.call('XACK', 'ci-jobs', 'ci-workers', id)).toBe(1);
    expect(await c.call('XGROUP', 'DELCONSUMER', 'ci-jobs', 'ci-workers', 'agent-2')).toBe(0);
    expect(await c.call('XADD', 'raibid:log:x', '*', 'k', 'out')).toMatch(/^\d+-\d+$/);
    expect(await c.call('SET', 'raibid:agent:agent-1', '{}', 'PX', '1000')).toBe('OK');
    expect(await c.call('DEL', 'raibid:log:x')).toBe(1);
    await expect(c.call('XREADGROUP', 'GROUP', 'ci-workers', 'agent-1', 'STREAMS', 'other-stream', '>')).rejects.toThrow(/^NOPERM/);
    // No agent can queue a job, trim or delete a queue, or read other pools' entries directly.
    for (const cmd of [['XADD', 'ci-jobs', '*', 'a', 'b'], ['XGROUP', 'CREATE', 'ci-jobs', 'mine', '$'], ['XGROUP', 'DESTROY', 'ci-jobs', 'ci-workers'], ['XTRIM', 'ci-jobs', 'MAXLEN', '0'], ['DEL', 'ci-jobs'], ['EXPIRE', 'ci-jobs', '1'], ['XRANGE', 'ci-jobs', '-', '+'], ['XPENDING', 'ci-jobs', 'ci-workers'], ['INFO'], ['KEYS', '*'], ['FLUSHALL'], ['CONFIG', 'GET', 'dir'], ['ACL', 'LIST']]) {
      await expect(c.call(...cmd), cmd.join(' ')).rejects.toThrow(/^NOPERM/);
    }
  });

  it('lets KEDA read lag, pending entries and length, and nothing else', async () => {
    const c = await keda();
    expect(await c.call('INFO', 'server')).toMatch(/redis_version:/);
    expect(await c.call('INFO')).toMatch(/redis_version:/);
    const groups = (await c.call('XINFO', 'GROUPS', 'ci-jobs')) as Reply[][];
    const group = Object.fromEntries(Array.from({ length: groups[0].length / 2 }, (_, i) => [groups[0][2 * i], groups[0][2 * i + 1]]));
    expect(group).toMatchObject({ name: 'ci-workers', lag: 0, pending: 0 });
    expect(await c.call('XLEN', 'ci-jobs')).toBe(1);
    expect(((await c.call('XPENDING', 'ci-jobs', 'ci-workers')) as Reply[])[0]).toBe(0);
    await expect(c.call('XLEN', 'other-stream')).rejects.toThrow(/^NOPERM/);
    for (const cmd of [['XADD', 'ci-jobs', '*', 'a', 'b'], ['XREADGROUP', 'GROUP', 'ci-workers', 'k', 'STREAMS', 'ci-jobs', '>'], ['XACK', 'ci-jobs', 'ci-workers', '0-1'], ['XRANGE', 'ci-jobs', '-', '+'], ['XINFO', 'STREAM', 'ci-jobs'], ['XGROUP', 'CREATE', 'ci-jobs', 'k', '$'], ['DEL', 'ci-jobs'], ['CONFIG', 'GET', 'dir'], ['ACL', 'LIST'], ['FLUSHALL']]) {
      await expect(c.call(...cmd), cmd.join(' ')).rejects.toThrow(/^NOPERM/);
    }
  });

  it('lets the per-pod init user create groups on the pool streams and nothing else', async () => {
    const c = await init();
    await expect(c.call('XGROUP', 'CREATE', 'ci-jobs', 'ci-workers', '$', 'MKSTREAM')).rejects.toThrow(/^BUSYGROUP/);
    await expect(c.call('XGROUP', 'CREATE', 'other-stream', 'g', '$', 'MKSTREAM')).rejects.toThrow(/^NOPERM/);
    for (const cmd of [['XADD', 'ci-jobs', '*', 'a', 'b'], ['XLEN', 'ci-jobs'], ['XGROUP', 'DESTROY', 'ci-jobs', 'ci-workers'], ['DEL', 'ci-jobs'], ['INFO'], ['CONFIG', 'GET', 'dir']]) {
      await expect(c.call(...cmd), cmd.join(' ')).rejects.toThrow(/^NOPERM/);
    }
  });

  it('keeps queued and in-flight jobs across a crash and restart', async () => {
    const producer = await api();
    const queued = await producer.call('XADD', 'ci-jobs', '*', 'repo', 'raibid/two');
    await producer.call('XADD', 'ci-jobs', '*', 'repo', 'raibid/three');
    const consumer = await agent();
    const read = (await consumer.call('XREADGROUP', 'GROUP', 'ci-workers', 'agent-1', 'COUNT', '1', 'STREAMS', 'ci-jobs', '>')) as [string, [string, string[]][]][];
    expect(read[0][1][0][0]).toBe(queued);
    // appendfsync everysec: give the AOF its second, then kill the server without letting it save.
    await sleep(1500);
    for (const c of clients.splice(0)) c.close();
    await stop('SIGKILL');
    await start();
    const again = run('init-streams.sh');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('init-streams: group ci-workers on stream ci-jobs exists');
    const k = await keda();
    expect(await k.call('XLEN', 'ci-jobs')).toBe(3);
    const [pending, first] = (await k.call('XPENDING', 'ci-jobs', 'ci-workers')) as [number, string];
    expect([pending, first]).toEqual([1, queued]);
    const next = (await (await agent()).call('XREADGROUP', 'GROUP', 'ci-workers', 'agent-2', 'COUNT', '1', 'STREAMS', 'ci-jobs', '>')) as [string, [string, string[]][]][];
    expect(next[0][1][0][1]).toEqual(['repo', 'raibid/three']);
  }, 30_000);
});
