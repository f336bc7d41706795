/**
 * The Kubernetes API stand-in (test/support/kube-standin.ts) is faithful enough to test the API's
 * direct pools against: @kubernetes/client-node talks to it unchanged, the synthesized direct-pool Job
 * is accepted, and what kube-apiserver rejects is rejected with the same code, reason and causes.
 */
import type * as K8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findObject, objectsUnder } from './helpers.js';
import { API_ROLE_RULES, jobStates, podStates, startKubeStandIn, type KubeStandIn } from './support/kube-standin.js';

// client-node's own undici is pinned to a Node 20 release (package.json "overrides").
const { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Watch, makeInformer } = await import('@kubernetes/client-node');

const CONFIG = 'agents:\n  pools:\n    - name: rust\n      mode: direct\n';
const TOKEN = 'standin-test-token';

let standin: KubeStandIn;
let ns: string;
let template: Record<string, any>;
let kc: K8s.KubeConfig;
let batch: K8s.BatchV1Api;
let core: K8s.CoreV1Api;

beforeAll(async () => {
  const cm = findObject(objectsUnder('apps/', CONFIG), 'ConfigMap', 'agent-rust-job');
  template = parse(cm.data['job.yaml']);
  ns = cm.metadata.namespace!;
  standin = await startKubeStandIn({ namespace: ns, token: TOKEN });
  kc = new KubeConfig();
  kc.loadFromString(standin.kubeconfig());
  batch = kc.makeApiClient(BatchV1Api);
  core = kc.makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await standin?.close();
});

/** The template, changed by `edit`. */
function job(edit: (j: Record<string, any>) => void = () => {}): K8s.V1Job {
  const j = structuredClone(template);
  edit(j);
  return j as K8s.V1Job;
}

/** The HTTP code and Status object a client-node call failed with. */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: Record<string, any> | undefined }> {
  try {
    await call;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    return { code: e.code, status: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
  }
  throw new Error('expected the call to fail');
}

/** A request sent as is (client-node's typed APIs re-serialize bodies; see the unknown-field test). */
async function raw(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ code: number; headers: Headers; json: any; lines: any[] }> {
  const res = await fetch(standin.url + path, {
    method,
    headers: { ...(token !== null ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  // A watch answers newline-delimited JSON events; anything else, one JSON document (or text).
  const lines = text.split('\n').filter(Boolean);
  const parse = (t: string) => (t.startsWith('{') ? JSON.parse(t) : t);
  return { code: res.status, headers: res.headers, json: lines.length === 1 ? parse(lines[0]) : text, lines: lines.map(parse) };
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Creates a Job from the template through client-node and returns it with its (first) pod's name. */
async function createFromTemplate(edit?: (j: Record<string, any>) => void): Promise<{ name: string; pod: string }> {
  const created = await batch.createNamespacedJob({ namespace: ns, body: job(edit), fieldValidation: 'Strict' });
  const name = created.metadata!.name!;
  const pod = await waitFor(() => [...standin.pods.values()].find((p) => p.metadata?.labels?.['batch.kubernetes.io/job-name'] === name), `the pod of ${name}`);
  return { name, pod: pod.metadata!.name! };
}

describe('kube stand-in', () => {
  it('grants exactly the rules of the API Role synthesized for direct pools', () => {
    const role = findObject(objectsUnder('apps/', CONFIG), 'Role', 'raibid-api-jobs', ns);
    expect(role.rules).toEqual(API_ROLE_RULES);
  });

  it('accepts the direct-pool Job template sent by client-node, generates its name, selector and pod', async () => {
    const created = await batch.createNamespacedJob({ namespace: ns, body: job(), fieldValidation: 'Strict' });
    const name = created.metadata!.name!;
    expect(name).toMatch(/^agent-rust-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(created.metadata).toMatchObject({ namespace: ns, uid: expect.any(String), resourceVersion: expect.stringMatching(/^\d+$/) });
    expect(created.spec!.selector!.matchLabels).toEqual({ 'batch.kubernetes.io/controller-uid': created.metadata!.uid });
    expect(created.spec!.template.metadata!.labels).toMatchObject({ 'batch.kubernetes.io/job-name': name, 'job-name': name, 'raibid-ci.dev/agent-pool': 'rust' });
    // client-node's serializer dropped nothing of the template on the way.
    expect(standin.requests.findLast((r) => r.verb === 'create')!.body).toEqual(template);

    // The stand-in's "Job controller" has made the pod by the time the client has its answer.
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `batch.kubernetes.io/job-name=${name}` })).items;
    expect(pods).toHaveLength(1);
    const [pod] = pods;
    expect(pod.metadata!.name).toMatch(new RegExp(`^${name}-[a-z0-9]{5}$`));
    expect(pod.status!.phase).toBe('Pending');
    expect(pod.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name, uid: created.metadata!.uid, controller: true })]);
    expect(pod.spec!.containers[0].image).toBe(template.spec.template.spec.containers[0].image);
    expect((await batch.readNamespacedJob({ namespace: ns, name })).status!.active).toBe(1);
  });

  it('rejects an unknown field at depth as kube-apiserver does: 400 with Strict, dropped with a warning by default', async () => {
    const typo = job((j) => (j.spec.template.spec.containers[0].imagePullPolicyy = 'Always'));
    const strict = await raw('POST', `/apis/batch/v1/namespaces/${ns}/jobs?fieldValidation=Strict`, typo);
    expect(strict.code).toBe(400);
    expect(strict.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    expect(strict.json.message).toContain('strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"');

    // Without fieldValidation the server warns (Warn is its default) and drops the field.
    const lax = await raw('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, typo);
    expect(lax.code).toBe(201);
    expect(lax.headers.get('warning')).toContain('unknown field \\"spec.template.spec.containers[0].imagePullPolicyy\\"');
    expect(standin.jobs.get(lax.json.metadata.name)!.spec!.template.spec!.containers[0]).not.toHaveProperty('imagePullPolicyy');

    // client-node's typed API never sends it: its serializer keeps only the fields its models declare.
    await batch.createNamespacedJob({ namespace: ns, body: typo, fieldValidation: 'Strict' });
    expect(standin.requests.findLast((r) => r.verb === 'create')!.body).not.toHaveProperty('spec.template.spec.containers[0].imagePullPolicyy');
  });

  it('rejects a Job whose container names no image: 422 Invalid with the cause', async () => {
    const { code, status } = await failure(batch.createNamespacedJob({ namespace: ns, body: job((j) => delete j.spec.template.spec.containers[0].image), fieldValidation: 'Strict' }));
    expect(code).toBe(422);
    expect(status).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, details: { group: 'batch', kind: 'Job' } });
    expect(status!.details.causes).toEqual([{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.template.spec.containers[0].image' }]);
  });

  it('rejects what Job validation rejects: 422 with one cause per problem', async () => {
    const bad = job((j) => {
      j.metadata = { name: 'a'.repeat(64) };
      const spec = j.spec.template.spec;
      spec.restartPolicy = 'Always';
      spec.containers[0].imagePullPolicy = 'Sometimes';
      spec.containers[0].volumeMounts.push({ name: 'missing', mountPath: '/missing' });
      spec.containers[0].resources.requests.cpu = '3';
    });
    const { code, status } = await failure(batch.createNamespacedJob({ namespace: ns, body: bad, fieldValidation: 'Strict' }));
    expect(code).toBe(422);
    const causes = status!.details.causes.map((c: { field: string; reason: string }) => `${c.reason} ${c.field}`);
    expect(causes).toEqual(
      expect.arrayContaining([
        'FieldValueNotSupported spec.template.spec.containers[0].imagePullPolicy',
        'FieldValueInvalid spec.template.labels', // job-name=<64 characters> is no label value
        'FieldValueNotSupported spec.template.spec.restartPolicy',
        'FieldValueNotFound spec.template.spec.containers[0].volumeMounts[5].name',
        'FieldValueInvalid spec.template.spec.containers[0].resources.requests[cpu]',
      ]),
    );
    expect(status!.message).toMatch(/^Job\.batch "a{64}" is invalid: \[/);
    // Wrong types fail decoding (400), before validation.
    const typed = await failure(batch.createNamespacedJob({ namespace: ns, body: job((j) => (j.spec.backoffLimit = 'none')) }));
    expect(typed).toMatchObject({ code: 400, status: { reason: 'BadRequest' } });
  });

  it('refuses a name already taken with 409 AlreadyExists', async () => {
    const named = job((j) => (j.metadata = { name: 'agent-rust-fixed', labels: j.metadata.labels }));
    await batch.createNamespacedJob({ namespace: ns, body: named });
    const { code, status } = await failure(batch.createNamespacedJob({ namespace: ns, body: named }));
    expect(code).toBe(409);
    expect(status).toMatchObject({ reason: 'AlreadyExists', code: 409, message: 'jobs.batch "agent-rust-fixed" already exists', details: { name: 'agent-rust-fixed', group: 'batch', kind: 'jobs' } });
  });

  it('forbids another namespace (403) and refuses a body whose namespace differs from the path (400)', async () => {
    const other = await failure(batch.createNamespacedJob({ namespace: 'default', body: job((j) => delete j.metadata.namespace) }));
    expect(other.code).toBe(403);
    expect(other.status).toMatchObject({ reason: 'Forbidden', details: { group: 'batch', kind: 'jobs' } });
    expect(other.status!.message).toBe(`jobs.batch is forbidden: User "system:serviceaccount:${ns}:raibid-api" cannot create resource "jobs" in API group "batch" in the namespace "default"`);
    const mismatch = await failure(batch.createNamespacedJob({ namespace: ns, body: job((j) => (j.metadata.namespace = 'default')) }));
    expect(mismatch).toMatchObject({ code: 400, status: { reason: 'BadRequest', message: 'the namespace of the provided object does not match the namespace sent on the request' } });
  });

  it('refuses a wrong or missing token with 401 Unauthorized', async () => {
    const wrong = new KubeConfig();
    wrong.loadFromString(standin.kubeconfig('not-the-token'));
    expect((await failure(wrong.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: ns }))).code).toBe(401);
    const missing = await raw('GET', `/apis/batch/v1/namespaces/${ns}/jobs`, undefined, null);
    expect(missing).toMatchObject({ code: 401, json: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 } });
  });

  it('forbids everything the Role does not grant: secrets, pods/exec, creating pods, patching jobs', async () => {
    expect(await failure(core.listNamespacedSecret({ namespace: ns }))).toMatchObject({ code: 403, status: { reason: 'Forbidden', details: { kind: 'secrets' } } });
    expect((await failure(core.readNamespacedSecret({ namespace: ns, name: 'redis-agent' }))).code).toBe(403);
    expect((await raw('POST', `/api/v1/namespaces/${ns}/pods/any/exec?command=sh`)).code).toBe(403);
    expect((await raw('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).code).toBe(403);
    expect((await raw('PATCH', `/apis/batch/v1/namespaces/${ns}/jobs/x`, {})).code).toBe(403);
    expect((await raw('GET', '/api/v1/pods')).json.message).toContain('at the cluster scope');
    expect((await raw('GET', '/metrics')).json.message).toContain('cannot get path "/metrics"');
  });

  it('validates without storing on dryRun=All, answers 404 for a missing Job, deletes a Job and its pod', async () => {
    const before = standin.pods.size;
    const dry = await batch.createNamespacedJob({ namespace: ns, body: job(), dryRun: 'All' });
    expect(standin.jobs.has(dry.metadata!.name!)).toBe(false);
    expect(await failure(batch.readNamespacedJob({ namespace: ns, name: 'nope' }))).toMatchObject({ code: 404, status: { reason: 'NotFound', message: 'jobs.batch "nope" not found' } });
    expect(standin.pods.size).toBe(before);

    const { name, pod } = await createFromTemplate();
    const listed = await batch.listNamespacedJob({ namespace: ns, labelSelector: 'raibid-ci.dev/agent-pool=rust', fieldSelector: `metadata.name=${name}` });
    expect(listed.items.map((j) => j.metadata!.name)).toEqual([name]);
    await batch.deleteNamespacedJob({ namespace: ns, name, propagationPolicy: 'Background' });
    expect(standin.jobs.has(name)).toBe(false);
    await waitFor(() => !standin.pods.has(pod), 'the pod to go');

    // Without a policy the real API orphans a Job's pods, and says so.
    const orphaned = await createFromTemplate();
    const res = await raw('DELETE', `/apis/batch/v1/namespaces/${ns}/jobs/${orphaned.name}`);
    expect(res.code).toBe(200);
    expect(res.headers.get('warning')).toContain('child pods are preserved by default');
    await waitFor(() => !standin.jobs.has(orphaned.name), 'the Job to go');
    expect(standin.pods.get(orphaned.pod)!.metadata!.ownerReferences).toBeUndefined();
  });

  it('streams pod status changes to a watch and explains a waiting container in pods/log', async () => {
    const { name, pod } = await createFromTemplate();
    const events: [string, any][] = [];
    const watching = await new Watch(kc).watch(`/api/v1/namespaces/${ns}/pods`, { labelSelector: `batch.kubernetes.io/job-name=${name}` }, (type, obj) => events.push([type, obj]), () => {});
    try {
      await waitFor(() => events.length === 1, 'the initial ADDED');
      await standin.setPodStatus(pod, podStates.unschedulable('0/1 nodes are available: 1 Insufficient memory.'));
      await standin.setPodStatus(pod, podStates.imagePullFailing('ImagePullBackOff', 'Back-off pulling image "gitea.dgx.local/raibid/agent-rust:0.1.0"'));
      expect(await failure(core.readNamespacedPodLog({ namespace: ns, name: pod }))).toMatchObject({ code: 400, status: { message: `container "agent" in pod "${pod}" is waiting to start: trying and failing to pull image` } });
      await standin.setPodStatus(pod, podStates.running());
      standin.setPodLog(pod, 'claimed entry 1-0\n');
      expect(await core.readNamespacedPodLog({ namespace: ns, name: pod })).toBe('claimed entry 1-0\n');
      await standin.setPodStatus(pod, podStates.terminated(1));
      await waitFor(() => events.length === 5, 'five events');
    } finally {
      watching.abort();
    }
    expect(events.map(([type]) => type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED']);
    const [, unschedulable, backoff, running, failed] = events.map(([, o]) => o.status);
    expect(unschedulable).toMatchObject({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' }] });
    expect(backoff.containerStatuses[0].state.waiting).toEqual({ reason: 'ImagePullBackOff', message: 'Back-off pulling image "gitea.dgx.local/raibid/agent-rust:0.1.0"' });
    expect(running.phase).toBe('Running');
    expect(failed).toMatchObject({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 1, reason: 'Error' } } }] });
    // Statuses are checked with the schema gate: a typo is the test's bug, not a pod state.
    await expect(standin.setPodStatus(pod, { phase: 'Running', containerStatus: [] } as never)).rejects.toThrow(/unknown field "containerStatus"/);
  });

  it('keeps an informer current across watch restarts, and makes it relist after compaction (410)', async () => {
    const selector = 'raibid-ci.dev/agent-pool=rust';
    const informer = makeInformer(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, () => batch.listNamespacedJob({ namespace: ns, labelSelector: selector }), selector);
    const errors: unknown[] = [];
    // client-node reports the abort of its own watch on stop() as an error, later: that one is not counted.
    informer.on('error', (e) => (e as Error).name !== 'AbortError' && errors.push(e));
    const first = await createFromTemplate();
    await informer.start();
    await waitFor(() => informer.get(first.name, ns), 'the informer to list the Job');

    standin.endWatches(); // as when the API server restarts: the informer resumes from its resourceVersion
    await standin.setJobStatus(first.name, jobStates.failed('DeadlineExceeded', 'Job was active longer than specified deadline'));
    await waitFor(() => informer.get(first.name, ns)?.status?.conditions?.some((c) => c.type === 'Failed'), 'the Failed condition');

    await informer.stop();
    const second = await createFromTemplate();
    standin.compact(); // its resourceVersion is now too old: the watch answers 410, the informer lists again
    const lists = () => standin.requests.filter((r) => r.verb === 'list' && r.resource === 'jobs').length;
    const listsBefore = lists();
    await informer.start();
    await waitFor(() => informer.get(second.name, ns), 'the Job created while it was stopped');
    await informer.stop();
    expect(errors).toEqual([]);
    expect(lists()).toBe(listsBefore + 1);
    const resumed = standin.requests.filter((r) => r.verb === 'watch' && r.resource === 'jobs' && Number(r.query.resourceVersion) > 0);
    expect(resumed.length).toBeGreaterThanOrEqual(2); // after endWatches(), and the stale one after compact()
  });

  it('answers resourceVersions out of range as the watch cache does (410 ERROR event, 504) and ends watches on timeoutSeconds', async () => {
    await createFromTemplate();
    standin.compact();
    const old = await raw('GET', `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=1`);
    expect(old.code).toBe(200);
    expect(old.json).toMatchObject({ type: 'ERROR', object: { kind: 'Status', reason: 'Expired', code: 410 } });
    const future = await raw('GET', `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=99999999`);
    expect(future).toMatchObject({ code: 504, json: { reason: 'Timeout', details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } } });
    // A watch without a resourceVersion starts with the current objects; timeoutSeconds ends it.
    const timed = await raw('GET', `/api/v1/namespaces/${ns}/pods?watch=1&timeoutSeconds=1`);
    expect(timed.lines.length).toBe(standin.pods.size);
    expect(timed.lines.every((e) => e.type === 'ADDED' && e.object.kind === 'Pod')).toBe(true);
    await createFromTemplate(); // an event after that end must not be written to the ended stream
  });

  it('answers an injected failure once, as a Status', async () => {
    standin.failNext({ code: 503, reason: 'ServiceUnavailable', message: 'etcdserver: leader changed', retryAfterSeconds: 1 }, { verb: 'create', resource: 'jobs' });
    const { code, status } = await failure(batch.createNamespacedJob({ namespace: ns, body: job() }));
    expect(code).toBe(503);
    expect(status).toMatchObject({ reason: 'ServiceUnavailable', message: 'etcdserver: leader changed', details: { retryAfterSeconds: 1 } });
    await batch.createNamespacedJob({ namespace: ns, body: job() });
  });
});
