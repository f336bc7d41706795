/**
 * The Gitea API stand-in (test/support/gitea-standin.ts) in a process of its own, for the runtime
 * benchmark: its work (swagger validation, a git process per lookup, git http-backend for checkouts)
 * then does not share the event loop that times the requests. Driven over IPC by bench/runtime.bench.ts.
 *
 * Next to it runs a small front on another loopback port that forwards every request to the stand-in
 * and, while `cache` is on, answers repeated calls from memory: GETs of the contents API (the benchmark
 * asks for files at fixed commit SHAs, so the answer cannot change) and POSTs of commit statuses (the
 * first one per URL reaches the stand-in; the API ignores the answer's body). Keyed by method, URL and
 * Authorization header. The benchmark points a second API at the front to see what webhook handling
 * costs the API itself when Gitea answers at once.
 */
import { createServer, request, Agent, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGiteaStandIn } from '../test/support/gitea-standin.js';
import { BOT_TOKEN, BOT_USER } from '../test/support/api-harness.js';

export type ChildRequest =
  | { readonly id: number; readonly op: 'addRepo'; readonly owner: string; readonly name: string; readonly files: Record<string, string> }
  | { readonly id: number; readonly op: 'cache'; readonly on: boolean }
  | { readonly id: number; readonly op: 'close' };
export type ChildReply = { readonly id: number; readonly ok: true; readonly result?: unknown } | { readonly id: number; readonly ok: false; readonly error: string };
export type ChildReady = { readonly ready: true; readonly url: string; readonly frontUrl: string };

const gitea = await startGiteaStandIn({ tokens: { [BOT_TOKEN]: BOT_USER } });
const target = new URL(gitea.url);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const cached = new Map<string, { status: number; headers: IncomingHttpHeaders; body: Buffer }>();
let caching = false;

const front = createServer((req, res) => {
  const url = req.url ?? '';
  const memo = (req.method === 'GET' && /^\/api\/v1\/repos\/[^/]+\/[^/]+\/contents\//.test(url)) || (req.method === 'POST' && /^\/api\/v1\/repos\/[^/]+\/[^/]+\/statuses\//.test(url));
  const key = memo ? `${req.method} ${url} ${req.headers.authorization ?? ''}` : undefined;
  const hit = caching && key ? cached.get(key) : undefined;
  if (hit) {
    req.resume();
    req.on('end', () => {
      res.writeHead(hit.status, hit.headers);
      res.end(hit.body);
    });
    return;
  }
  const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, agent }, (r) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = { ...r.headers };
      delete headers['transfer-encoding'];
      delete headers.connection;
      headers['content-length'] = String(body.length);
      if (caching && key && (r.statusCode === 200 || r.statusCode === 201)) cached.set(key, { status: r.statusCode, headers, body });
      res.writeHead(r.statusCode ?? 502, headers);
      res.end(body);
    });
    r.on('error', () => res.destroy());
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;

let closing: Promise<void> | undefined;
const close = () =>
  (closing ??= (async () => {
    front.closeAllConnections();
    await new Promise<void>((resolve) => front.close(() => resolve()));
    agent.destroy();
    await gitea.close();
  })());

process.on('message', async (m: ChildRequest) => {
  const reply = (r: ChildReply) => process.send?.(r);
  try {
    if (m.op === 'addRepo') reply({ id: m.id, ok: true, result: await gitea.addRepo(m.owner, m.name, { files: m.files }) });
    else if (m.op === 'cache') {
      caching = m.on;
      cached.clear();
      reply({ id: m.id, ok: true });
    } else if (m.op === 'close') {
      await close();
      reply({ id: m.id, ok: true });
      process.disconnect?.();
      process.exit(0);
    }
  } catch (e) {
    reply({ id: m.id, ok: false, error: (e as Error).stack ?? String(e) });
  }
});
// The benchmark went away without closing us: clean up all the same.
process.on('disconnect', () => void close().finally(() => process.exit(0)));
process.send?.({ ready: true, url: gitea.url, frontUrl } satisfies ChildReady);
