/**
 * `raibid agent drain`: the pooled agent's preStop hook. Asks the agent on this pod (POST /drain on
 * the health port) to stop taking jobs and waits until its running jobs have finished; the kubelet
 * sends SIGTERM after that.
 */
import { request } from 'node:http';
import { AGENT_DRAIN_PATH, AGENT_ENV, AGENT_HEALTH_PORT } from '../contract.js';
import type { CliIo } from '../../cli/main.js';

export function drain(io: CliIo): Promise<number> {
  const port = Number(io.env[AGENT_ENV.healthPort] ?? AGENT_HEALTH_PORT);
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: AGENT_DRAIN_PATH, method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) {
          io.out('raibid agent drain: drained; no job is running');
          resolve(0);
        } else {
          io.err(`raibid agent drain: the agent answered HTTP ${res.statusCode}`);
          resolve(1);
        }
      });
    });
    req.on('error', (e) => {
      io.err(`raibid agent drain: no agent answers on port ${port} (${e.message})`);
      resolve(1);
    });
    req.end();
  });
}
