/**
 * The agent's HTTP endpoints on AGENT_HEALTH_PORT (contract.ts), from its first second:
 *   GET  /healthz   200 while the process runs
 *   GET  /readyz    pooled: 200 while it takes jobs (503 once draining or when Redis is unreachable)
 *   GET  /claimed   one-shot: 503 until the agent holds its entry, then 200 (the pod's readiness probe)
 *   POST /drain     pooled: stop taking jobs; answers 200 when the running jobs have finished
 * It listens on all addresses: the kubelet probes the pod IP. The drain command calls it on loopback.
 */
import { createServer, type Server } from 'node:http';
import { AGENT_CLAIMED_PATH, AGENT_DRAIN_PATH, AGENT_HEALTHZ_PATH, AGENT_READYZ_PATH } from '../contract.js';

export interface HealthState {
  ready(): boolean;
  claimed(): boolean;
  drain(): Promise<void>;
}

export function serveHealth(port: number, state: HealthState): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (code: number, body: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${body}\n`);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === AGENT_HEALTHZ_PATH) return send(200, 'ok');
    if (req.method === 'GET' && path === AGENT_READYZ_PATH) return state.ready() ? send(200, 'ready') : send(503, 'not taking jobs');
    if (req.method === 'GET' && path === AGENT_CLAIMED_PATH) return state.claimed() ? send(200, 'claimed') : send(503, 'no entry claimed yet');
    if (req.method === 'POST' && path === AGENT_DRAIN_PATH) {
      state.drain().then(
        () => send(200, 'drained'),
        (e: Error) => send(500, `drain failed: ${e.message}`),
      );
      return;
    }
    send(404, 'not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
