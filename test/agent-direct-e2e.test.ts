/**
 * Direct pools end to end: the real `raibid api` process creates the agent's Job through the Kubernetes
 * API stand-in (it validates the Job with the project's strict schema gate and enforces the API's Role),
 * and a real `raibid agent` runs with exactly the environment of the Job the API created (the pod's
 * `metadata.name` and Secret references resolved as the kubelet would): it takes over the job's entry,
 * runs it, reports the status to the Gitea API stand-in, and exits 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startRedis, REDIS_BINARY, SKIP_REASON, type TestRedis } from './support/redis.js';
import { startGiteaStandIn, type GiteaStandIn } from './support/gitea-standin.js';
import { startKubeStandIn, type KubeStandIn } from './support/kube-standin.js';
import { pushPayload, signedDelivery } from './support/gitea-webhooks.js';
import { ADMIN_TOKEN, BOT_TOKEN, BOT_USER, WEBHOOK_SECRET, synthesizedApiSettings } from './support/api-harness.js';
import { startAgentProcess, startApiProcess, type AgentProc, type ApiProc } from './support/runtime.js';
import { findObject, objectsUnder } from './helpers.js';

const YAML = 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: batch\n      mode: direct\n      maxReplicas: 2\n';
const KUBE_TOKEN = 'kube-standin-token-for-the-api';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!REDIS_BINARY).sequential(`direct pool end to end: raibid api → Job (Kubernetes API stand-in) → raibid agent${REDIS_BINARY ? '' : ` — ${SKIP_REASON}`}`, () => {
  let redis: TestRedis;
  let gitea: GiteaStandIn;
  let kube: KubeStandIn;
  let api: ApiProc;
  let agent: AgentProc | undefined;

  beforeAll(async () => {
    redis = await startRedis(YAML);
    gitea = await startGiteaStandIn({ tokens: { [BOT_TOKEN]: BOT_USER } });
    kube = await startKubeStandIn({ namespace: 'ci', token: KUBE_TOKEN });
    const dir = mkdtempSync(join(tmpdir(), 'raibid-direct-'));
    // The pool's ConfigMap, mounted where the API expects it (as the Deployment mounts it).
    const cm = findObject(objectsUnder('apps/agents/', YAML), 'ConfigMap', 'agent-batch-job');
    for (const [k, v] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(dir, k), v);
    writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig());
    const settings = synthesizedApiSettings(YAML) as { pools: { name: string; jobTemplate?: string }[] };
    api = await startApiProcess(redis, gitea.url, {
      yaml: YAML,
      settings: { pools: settings.pools.map((p) => (p.jobTemplate ? { ...p, jobTemplate: dir } : p)) },
      env: { KUBECONFIG: join(dir, 'kubeconfig') },
    });
  }, 120_000);

  afterAll(async () => {
    await agent?.kill('SIGKILL');
    await api?.kill();
    await kube?.close();
    await gitea?.close();
    await redis?.stop();
  });

  it('runs a pushed job in the Job the API created, from the Job\'s own environment', async () => {
    const { sha } = await gitea.addRepo('acme', 'batchy', { files: { '.raibid.yaml': 'pool: batch\nsteps:\n  - name: hello\n    command: echo "direct job $RAIBID_JOB"\n' } });
    const payload = pushPayload({ baseUrl: gitea.url, repo: { owner: { login: 'acme' }, name: 'batchy' }, ref: 'refs/heads/main', before: '1'.repeat(40), after: sha, commits: [{ id: sha, message: 'go' }], pusher: { login: 'alice' } });
    const d = signedDelivery(WEBHOOK_SECRET, 'push', payload);
    const res = await fetch(`${api.url}/api/v1/webhooks/gitea`, { method: 'POST', headers: d.headers, body: d.body });
    const { id, pool } = (await res.json()) as { id: string; pool: string };
    expect(pool).toBe('batch');
    const name = `agent-batch-${id}`;
    for (let i = 0; i < 100 && !kube.jobs.has(name); i++) await sleep(100);
    const job = kube.jobs.get(name);
    expect(job, `no Job ${name}:\n${api.output().slice(-2000)}`).toBeDefined();
    const pod = [...kube.pods.values()].find((p) => p.metadata?.labels?.['job-name'] === name || p.metadata?.name?.startsWith(`${name}-`));
    expect(pod).toBeDefined();
    const container = job!.spec!.template.spec!.containers[0] as { env: { name: string; value?: string }[] };
    expect(container.env.find((e) => e.name === 'RAIBID_JOB_ID')?.value).toBe(id);

    agent = await startAgentProcess(redis, gitea.url, { pool: 'batch', name: pod!.metadata!.name!, yaml: YAML, container });
    expect(await agent.exited).toBe(0);
    const record = (await (await fetch(`${api.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as Record<string, any>;
    expect(record).toMatchObject({ status: 'success', agent: pod!.metadata!.name });
    const log = await (await fetch(`${api.url}/api/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(log).toContain(`[hello] direct job ${id}`);
    for (let i = 0; i < 50 && !gitea.statuses.some((s) => s.sha === sha && s.state === 'success'); i++) await sleep(100);
    expect(gitea.statuses.filter((s) => s.sha === sha).map((s) => s.state)).toEqual(['pending', 'pending', 'success']);
    expect(parse(findObject(objectsUnder('apps/agents/', YAML), 'ConfigMap', 'agent-batch-job').data['pool.yaml']).maxConcurrentJobs).toBeGreaterThan(0);
  }, 60_000);
});
