/**
 * Direct pools: the API's Job dispatcher (src/api/server/direct.ts) against a real Redis set up from the
 * synthesized config and ACL, the Gitea API stand-in, and the Kubernetes API stand-in
 * (support/kube-standin.ts: not a Kubernetes API server; it validates Job bodies with the project's
 * schema gate and enforces the API's Role). The Job template is the synthesized ConfigMap
 * `agent-batch-job`; the dispatcher's passes are run by the tests instead of its timer, and the agents
 * in the Jobs are played by the tests, with the agents' own Redis user.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DIRECT_JOB_FILE, DIRECT_POOL_FILE, type ApiSettings } from '../src/api/contract.js';
import { AGENT_ENV, AGENT_JOB_LABEL, AGENT_POOL_LABEL } from '../src/agents/contract.js';
import { ATTEMPT_LABEL, DirectDispatcher, directJobName, dispatchConsumer } from '../src/api/server/direct.js';
import { connectRedis, JobStore } from '../src/jobs/store.js';
import { findObject, objectsUnder } from './helpers.js';
import { startApi, synthesizedApiSettings, type ApiHarness } from './support/api-harness.js';
import { jobStates, podStates, startKubeStandIn, type KubeStandIn } from './support/kube-standin.js';
import { REDIS_BINARY, SKIP_REASON, startRedis, type TestRedis } from './support/redis.js';

const CONFIG = 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: batch\n      mode: direct\n      maxReplicas: 2\n';
const TOKEN = 'kube-standin-token-for-the-api';
const NAMESPACE = 'ci';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!REDIS_BINARY).sequential(`direct pools: the API's Job dispatcher against a real ${REDIS_BINARY ?? 'Redis'}, the Gitea API stand-in and the Kubernetes API stand-in${REDIS_BINARY ? '' : ` — ${SKIP_REASON}`}`, () => {
  let redis: TestRedis;
  let api: ApiHarness;
  let dir: string;
  let repo: { sha: string };
  let template: Record<string, any>;
  let pool: ApiSettings['pools'][number];
  let agentConn: Redis;
  let agents: JobStore;
  let kube: KubeStandIn;
  let dispatcher: DirectDispatcher;
  const savedKubeconfig = process.env.KUBECONFIG;

  beforeAll(async () => {
    redis = await startRedis(CONFIG);
    dir = mkdtempSync(join(tmpdir(), 'raibid-direct-'));
    const cm = findObject(objectsUnder('apps/', CONFIG), 'ConfigMap', 'agent-batch-job');
    mkdirSync(join(dir, 'batch'));
    writeFileSync(join(dir, 'batch', DIRECT_JOB_FILE), cm.data[DIRECT_JOB_FILE]);
    writeFileSync(join(dir, 'batch', DIRECT_POOL_FILE), cm.data[DIRECT_POOL_FILE]);
    template = parse(cm.data[DIRECT_JOB_FILE]);
    // The synthesized settings mount the template at /etc/raibid/jobs/batch; here it is in `dir`.
    const pools = (synthesizedApiSettings(CONFIG).pools as ApiSettings['pools']).map((p) => (p.mode === 'direct' ? { ...p, jobTemplate: join(dir, p.name) } : p));
    api = await startApi(redis, { yaml: CONFIG, settings: { pools } });
    pool = api.settings.pools.find((p) => p.name === 'batch')!;
    repo = await api.gitea.addRepo('acme', 'widget', { files: { 'README.md': 'hello\n' } });
    agentConn = connectRedis({ url: redis.url, username: redis.agent.username, password: redis.agent.password });
    agents = new JobStore(agentConn, { retentionSeconds: api.settings.retentionSeconds });
  });

  afterAll(async () => {
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    agentConn?.disconnect();
    await api?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // A fresh cluster (stand-in) and dispatcher per test, so Jobs of one test never count against another's limit.
  beforeEach(async () => {
    kube = await startKubeStandIn({ namespace: NAMESPACE, token: TOKEN });
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, kube.kubeconfig());
    process.env.KUBECONFIG = path;
    dispatcher = await DirectDispatcher.create(api.store, api.settings, api.service, api.app.log, process.env, 60_000);
  });

  afterEach(async () => {
    await dispatcher?.stop();
    await kube?.close();
  });

  /** Queues a job on the direct pool through the API (manual trigger); returns its id once its `pending` status is in Gitea. */
  async function queue(): Promise<string> {
    const r = await api.call('POST', '/api/v1/jobs', { body: { repo: 'acme/widget', pool: 'batch' } });
    expect(r.status).toBe(202);
    const id = r.body.id as string;
    // The API posts it in the background; wait, so that statuses a test looks at come after it.
    for (let i = 0; i < 200 && !api.gitea.statuses.some((s) => s.state === 'pending' && s.targetUrl.endsWith(`/jobs/${id}/logs`)); i++) await sleep(5);
    return id;
  }
  const job = async (id: string) => (await api.call('GET', `/api/v1/jobs/${id}`)).body as Record<string, any>;
  const record = async (id: string) => (await api.store.get(id))!;
  /** The pool's pending entries: [entry, consumer]. */
  const pending = async () => ((await api.store.redis.xpending(pool.stream, pool.group, '-', '+', 1000)) as [string, string, number, number][]).map(([e, c]) => [e, c]);
  const onStream = async (entry: string) => (await api.store.redis.xrange(pool.stream, entry, entry)).length === 1;
  const creates = () => kube.requests.filter((r) => r.verb === 'create' && r.resource === 'jobs');
  /** The pod the stand-in made for the Job of that name (it appears just after the create is answered). */
  async function podOf(jobName: string): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const uid = kube.jobs.get(jobName)?.metadata?.uid;
      const pod = [...kube.pods.values()].find((p) => p.metadata?.ownerReferences?.some((o) => o.uid === uid));
      if (pod) return pod.metadata!.name!;
      await sleep(5);
    }
    throw new Error(`no pod for Job ${jobName}`);
  }
  /** What the agent in a Job does first: takes the job's entry over (XCLAIM) and starts it. */
  async function agentTakes(id: string, consumer: string): Promise<string> {
    const { entry } = await agents.get(id).then((r) => r!);
    const claimed = (await agentConn.xclaim(pool.stream, pool.group, consumer, 0, entry!)) as unknown[];
    expect(claimed).toHaveLength(1);
    expect(await agents.start(id, consumer, entry!)).toBe('run');
    return entry!;
  }

  it('creates one Job agent-<pool>-<id> per queued job, accepted by strict validation, and keeps the entry pending under its consumer', async () => {
    const id = await queue();
    const { entry } = await record(id);
    await dispatcher.pass();

    const name = directJobName('batch', id);
    expect([...kube.jobs.keys()]).toEqual([name]);
    expect(creates()).toHaveLength(1);
    expect(creates()[0]).toMatchObject({ path: `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`, query: { fieldValidation: 'Strict' }, status: 201 });

    const stored = kube.jobs.get(name)!;
    expect(stored.metadata).toMatchObject({ name, namespace: NAMESPACE, labels: { ...template.metadata.labels, [AGENT_JOB_LABEL]: id, [AGENT_POOL_LABEL]: 'batch' } });
    expect(stored.metadata!.generateName).toBeUndefined();
    expect(stored.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: template.spec.activeDeadlineSeconds, ttlSecondsAfterFinished: template.spec.ttlSecondsAfterFinished });
    expect(stored.spec!.template.metadata!.labels).toMatchObject({ ...template.spec.template.metadata.labels, [AGENT_JOB_LABEL]: id });
    const agent = stored.spec!.template.spec!.containers.find((c) => c.name === 'agent')!;
    const planned = template.spec.template.spec.containers.find((c: { name: string }) => c.name === 'agent');
    expect(agent.env!.filter((e) => e.name === AGENT_ENV.jobId)).toEqual([{ name: AGENT_ENV.jobId, value: id }]);
    expect(agent.env!.map((e) => e.name)).toEqual([...planned.env.map((e: { name: string }) => e.name), AGENT_ENV.jobId]);
    // Nothing else of the template was lost on the way (client-node re-serializes bodies through its models).
    expect({ ...agent, env: undefined }).toEqual({ ...planned, env: undefined });
    expect(stored.spec!.template.spec!.volumes).toEqual(template.spec.template.spec.volumes);

    // The entry is delivered to the dispatcher and stays pending (the agent will take it over); the
    // dispatcher's heartbeat keeps the reaper off it.
    expect(await pending()).toEqual([[entry, dispatchConsumer('batch')]]);
    expect(await api.store.alive(dispatchConsumer('batch'))).toBe(true);
    expect(await job(id)).toMatchObject({ status: 'queued', waiting: 'Job created, waiting for its pod' });

    await podOf(name);
    await dispatcher.pass();
    expect(creates()).toHaveLength(1);
    expect(kube.jobs.size).toBe(1);
    expect(await pending()).toEqual([[entry, dispatchConsumer('batch')]]);
    expect(await job(id)).toMatchObject({ status: 'queued', waiting: 'pod Pending' });

    // The agent takes the job: the entry moves to it, and the record no longer says it waits.
    const pod = await podOf(name);
    await agentTakes(id, pod);
    await dispatcher.pass();
    expect(await pending()).toEqual([[entry, pod]]);
    const running = await job(id);
    expect(running.status).toBe('running');
    expect(running.waiting).toBeUndefined();
    await agents.transition(id, 'success', {}, ['running']);
    await agents.ack(pool.stream, pool.group, entry!);
  });

  it('creates the Job of an entry it took before it stopped (the API restarted between taking the entry and creating the Job)', async () => {
    const id = await queue();
    const { entry } = await record(id);
    // What an interrupted dispatcher leaves behind: the entry delivered to its consumer, no Job.
    await api.store.redis.xreadgroup('GROUP', pool.group, dispatchConsumer('batch'), 'COUNT', 1, 'STREAMS', pool.stream, '>');
    expect(kube.jobs.size).toBe(0);
    await dispatcher.pass();
    expect([...kube.jobs.keys()]).toEqual([directJobName('batch', id)]);
    expect(await pending()).toEqual([[entry, dispatchConsumer('batch')]]);
    await dispatcher.pass();
    expect(creates()).toHaveLength(1);
    await agents.transition(id, 'cancelled', { reason: 'test over' }, ['queued']);
    await dispatcher.pass();
  });

  it('runs at most maxConcurrentJobs (pool.yaml) Jobs at once and creates the next when one has finished', async () => {
    expect(dispatcher.pools.map((p) => [p.name, p.max])).toEqual([['batch', 2]]);
    const ids = [await queue(), await queue(), await queue()];
    await dispatcher.pass();
    expect([...kube.jobs.keys()].sort()).toEqual(ids.slice(0, 2).map((id) => directJobName('batch', id)).sort());
    await dispatcher.pass();
    expect(kube.jobs.size).toBe(2);
    // The third entry is not even taken from the stream while both slots are busy.
    const [e0, e1, e2] = await Promise.all(ids.map(async (id) => (await record(id)).entry!));
    expect(await pending()).toEqual(expect.arrayContaining([[e0, dispatchConsumer('batch')], [e1, dispatchConsumer('batch')]]));
    expect((await pending()).map(([e]) => e)).not.toContain(e2);
    expect(await job(ids[2])).toMatchObject({ status: 'queued' });
    expect((await job(ids[2])).waiting).toBeUndefined();

    // The first job runs to its end, then its Job completes.
    const first = directJobName('batch', ids[0]);
    const pod = await podOf(first);
    const entry = await agentTakes(ids[0], pod);
    await agents.transition(ids[0], 'success', {}, ['running']);
    await agents.ack(pool.stream, pool.group, entry);
    await kube.setPodStatus(pod, podStates.terminated(0));
    await kube.setJobStatus(first, jobStates.succeeded());

    await dispatcher.pass();
    expect([...kube.jobs.keys()].sort()).toEqual(ids.map((id) => directJobName('batch', id)).sort());
    expect(creates()).toHaveLength(3);
    await dispatcher.pass();
    expect(creates()).toHaveLength(3);
    expect(await job(ids[0])).toMatchObject({ status: 'success' });
    expect(await job(ids[2])).toMatchObject({ status: 'queued', waiting: expect.any(String) });
    // Leave no queued job behind: each test has its own stand-in, but the stream is shared.
    for (const id of ids.slice(1)) await api.service.cancel(id, 'test');
  });

  it('writes why the pod does not run (image pull errors, Unschedulable) into the job, which stays queued', async () => {
    const id = await queue();
    await dispatcher.pass();
    const name = directJobName('batch', id);
    const pod = await podOf(name);

    await kube.setPodStatus(pod, podStates.imagePullFailing('ImagePullBackOff', `Back-off pulling image "${template.spec.template.spec.containers[0].image}"`));
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'queued', waiting: `ImagePullBackOff: Back-off pulling image "${template.spec.template.spec.containers[0].image}"` });

    await kube.setPodStatus(pod, podStates.unschedulable('0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.'));
    await dispatcher.pass();
    const unschedulable = await job(id);
    expect(unschedulable.status).toBe('queued');
    expect(unschedulable.waiting).toMatch(/^Unschedulable: 0\/1 nodes are available: 1 Insufficient memory\./);

    // Once the pod runs, the reason is no longer a stale scheduling one (the agent has yet to take the job) …
    await kube.setPodStatus(pod, podStates.running(false));
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'queued', waiting: 'pod running, waiting for its agent to take the job' });
    // … and once the agent has taken it, there is none.
    const entry = await agentTakes(id, pod);
    await dispatcher.pass();
    const started = await job(id);
    expect(started.status).toBe('running');
    expect(started.waiting).toBeUndefined();
    expect(creates()).toHaveLength(1);
    await agents.transition(id, 'success', {}, ['running']);
    await agents.ack(pool.stream, pool.group, entry);
  });

  it('ends a job in error, acknowledged and reported to Gitea, when its Job failed before the agent took it', async () => {
    const id = await queue();
    const { entry } = await record(id);
    await dispatcher.pass();
    const name = directJobName('batch', id);
    await kube.setPodStatus(await podOf(name), podStates.unschedulable('0/1 nodes are available: 1 Insufficient memory.'));
    await kube.setJobStatus(name, jobStates.failed('DeadlineExceeded', 'Job was active longer than specified deadline'));
    const statusesBefore = api.gitea.statuses.length;
    await dispatcher.pass();

    const ended = await job(id);
    expect(ended.status).toBe('error');
    expect(ended.reason).toBe(`Job ${name} failed before its agent started: DeadlineExceeded (Job was active longer than specified deadline)`);
    expect(ended.finishedAt).toEqual(expect.any(Number));
    expect((await pending()).map(([e]) => e)).not.toContain(entry);
    expect(await onStream(entry!)).toBe(false);
    const posted = api.gitea.statuses.slice(statusesBefore);
    expect(posted).toEqual([expect.objectContaining({ sha: repo.sha, state: 'error', context: 'raibid-ci/batch', description: ended.reason, targetUrl: `http://ci.test.invalid:8080/api/v1/jobs/${id}/logs` })]);
    expect(ended.waiting).toBeUndefined();

    // Counted as ended by the API, and nothing more happens on later passes.
    const metrics = (await api.call('GET', '/metrics', { token: null })).text;
    expect(metrics).toMatch(/raibid_jobs_total\{pool="batch",status="error"\} [1-9]/);
    await dispatcher.pass();
    expect(api.gitea.statuses.length).toBe(statusesBefore + 1);
    expect(creates()).toHaveLength(1);
  });

  it('ends a job in error when its Job completed without its agent taking the job (it would stay queued forever)', async () => {
    const id = await queue();
    const { entry } = await record(id);
    await dispatcher.pass();
    const name = directJobName('batch', id);
    // The agent found nothing to do (e.g. the record had no entry) and exited 0.
    await kube.setPodStatus(await podOf(name), podStates.terminated(0));
    await kube.setJobStatus(name, jobStates.succeeded());
    await dispatcher.pass();
    const ended = await job(id);
    expect(ended).toMatchObject({ status: 'error', reason: `Job ${name} completed without its agent taking the job` });
    expect(await onStream(entry!)).toBe(false);
    expect(api.gitea.statuses.at(-1)).toMatchObject({ state: 'error', description: ended.reason });
  });

  it('takes AlreadyExists from the Kubernetes API stand-in as an interrupted dispatch, not an error: the job stays queued', async () => {
    const id = await queue();
    const { entry } = await record(id);
    const name = directJobName('batch', id);
    // The Job is already there (a dispatch interrupted after the create), made from the same template.
    const kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfig());
    await kc.makeApiClient(BatchV1Api).createNamespacedJob({ namespace: NAMESPACE, body: dispatcher.jobFor(dispatcher.pools[0], id), fieldValidation: 'Strict' });
    await podOf(name);

    await dispatcher.pass();
    expect(creates().map((r) => r.status)).toEqual([201, 409]);
    expect(kube.jobs.size).toBe(1);
    expect(await job(id)).toMatchObject({ status: 'queued' });
    expect(await pending()).toContainEqual([entry, dispatchConsumer('batch')]);
    expect(api.logs.filter((l) => l.includes(id) && l.includes('direct dispatch failed'))).toEqual([]);
    // The existing Job is followed as if this dispatcher had made it.
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'queued', waiting: 'pod Pending' });

    // The same for an AlreadyExists answered before the Job shows up in a list.
    const other = await queue();
    kube.failNext({ code: 409, reason: 'AlreadyExists', message: `jobs.batch "${directJobName('batch', other)}" already exists` }, { verb: 'create', resource: 'jobs' });
    await dispatcher.pass();
    expect(creates().at(-1)!.status).toBe(409);
    expect(await job(other)).toMatchObject({ status: 'queued' });
    for (const j of [id, other]) await api.service.cancel(j, 'test');
  });

  it('acknowledges a job cancelled while queued without creating a Job, and does not count it against the limit', async () => {
    const [a, b, c] = [await queue(), await queue(), await queue()];
    const entries = await Promise.all([a, b, c].map(async (id) => (await record(id)).entry!));
    for (const id of [a, b]) expect((await api.call('POST', `/api/v1/jobs/${id}/cancel`)).status).toBe(200);
    await dispatcher.pass();
    // Two slots, two cancelled entries first: both are skipped, and the live job still gets its Job in this pass.
    expect([...kube.jobs.keys()]).toEqual([directJobName('batch', c)]);
    expect(creates()).toHaveLength(1);
    for (const e of entries.slice(0, 2)) {
      expect(await onStream(e)).toBe(false);
      expect((await pending()).map(([p]) => p)).not.toContain(e);
    }
    expect(await job(a)).toMatchObject({ status: 'cancelled' });
    expect(await job(c)).toMatchObject({ status: 'queued' });

    // Cancelled once its Job exists (its pod cannot be scheduled): the Job is deleted, so it no longer
    // holds a slot until its deadline, and the entry is acknowledged.
    await kube.setPodStatus(await podOf(directJobName('batch', c)), podStates.unschedulable('0/1 nodes are available: 1 Insufficient cpu.'));
    expect((await api.call('POST', `/api/v1/jobs/${c}/cancel`)).status).toBe(200);
    await dispatcher.pass();
    expect(kube.jobs.size).toBe(0);
    expect(kube.requests.filter((r) => r.verb === 'delete')).toEqual([expect.objectContaining({ name: directJobName('batch', c), query: { propagationPolicy: 'Background' }, status: 200 })]);
    expect(await onStream(entries[2])).toBe(false);
    expect(await job(c)).toMatchObject({ status: 'cancelled' });
  });

  it('ends the job in error, naming the Job and the API server\'s answer, when the create is refused otherwise (422, 403)', async () => {
    const invalid = await queue();
    const { entry } = await record(invalid);
    const name = directJobName('batch', invalid);
    kube.failNext({ code: 422, reason: 'Invalid', message: `jobs.batch "${name}" is invalid: spec.template.spec.containers[0].image: Required value` }, { verb: 'create', resource: 'jobs' });
    const before = api.gitea.statuses.length;
    await dispatcher.pass();
    const ended = await job(invalid);
    expect(ended.status).toBe('error');
    expect(ended.reason).toContain(`could not create Job ${name}: HTTP 422`);
    expect(ended.reason).toContain('spec.template.spec.containers[0].image: Required value');
    expect(await onStream(entry!)).toBe(false);
    expect(api.gitea.statuses.slice(before)).toEqual([expect.objectContaining({ sha: repo.sha, state: 'error', description: ended.reason })]);
    expect(kube.jobs.size).toBe(0);

    const forbidden = await queue();
    kube.failNext({ code: 403, reason: 'Forbidden', message: 'jobs.batch is forbidden: User "system:serviceaccount:ci:raibid-api" cannot create resource "jobs" in API group "batch" in the namespace "ci"' }, { verb: 'create', resource: 'jobs' });
    await dispatcher.pass();
    const refused = await job(forbidden);
    expect(refused.status).toBe('error');
    expect(refused.reason).toMatch(new RegExp(`^could not create Job ${directJobName('batch', forbidden)}: HTTP 403.*cannot create resource "jobs"`));
    expect(kube.jobs.size).toBe(0);
    expect(api.logs.some((l) => l.includes(forbidden) && l.includes('direct dispatch failed'))).toBe(true);
  });

  it('gives a job the reaper re-queued (its agent died) a new Job for the new attempt instead of ending it on the old Job', async () => {
    const id = await queue();
    await dispatcher.pass();
    const name = directJobName('batch', id);
    const firstUid = kube.jobs.get(name)!.metadata!.uid;
    expect(kube.jobs.get(name)!.metadata!.labels).toMatchObject({ [ATTEMPT_LABEL]: '1' });
    const pod = await podOf(name);
    await agentTakes(id, pod);
    // The agent is OOM-killed: no more heartbeats; its pod and Job fail (backoffLimit 0).
    await kube.setPodStatus(pod, podStates.terminated(137, 'OOMKilled'));
    await kube.setJobStatus(name, jobStates.failed('BackoffLimitExceeded', 'Job has reached the specified backoff limit'));
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'running' });

    await sleep(api.settings.reaperMinIdleMs + 50);
    expect(await api.reaper.pass()).toBeGreaterThanOrEqual(1);
    const requeued = await record(id);
    expect(requeued).toMatchObject({ status: 'queued', attempt: 2 });

    // The failed Job is the first attempt's: the job is not ended on it; the Job is replaced by one for attempt 2.
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'queued', attempt: 2, waiting: 'Job created, waiting for its pod' });
    expect(kube.requests.filter((r) => r.verb === 'delete')).toEqual([expect.objectContaining({ name, query: { propagationPolicy: 'Background' }, status: 200 })]);
    const second = kube.jobs.get(name)!;
    expect(second.metadata!.uid).not.toBe(firstUid);
    expect(second.metadata!.labels).toMatchObject({ [AGENT_JOB_LABEL]: id, [ATTEMPT_LABEL]: '2' });
    expect(second.status?.conditions ?? []).toEqual([]);
    expect(second.spec!.template.spec!.containers[0].env).toContainEqual({ name: AGENT_ENV.jobId, value: id });
    expect(await pending()).toContainEqual([requeued.entry, dispatchConsumer('batch')]);

    // Its pod is the one followed, not the first attempt's.
    const pod2 = await podOf(name);
    expect(pod2).not.toBe(pod);
    await kube.setPodStatus(pod2, podStates.imagePullFailing('ErrImagePull', 'rpc error: code = NotFound'));
    await dispatcher.pass();
    expect(await job(id)).toMatchObject({ status: 'queued', attempt: 2, waiting: 'ErrImagePull: rpc error: code = NotFound' });
    await api.service.cancel(id, 'test');
  });
});
