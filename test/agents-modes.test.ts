import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { synthesize } from '../src/synth.js';
import { allObjects, config, findObject, objectsUnder, podSpecOf, type K8sObject } from './helpers.js';
import { imageTagSerializer } from './image-tags.js';

expect.addSnapshotSerializer(imageTagSerializer);

const MIXED = `agents:
  pools:
    - name: rust
      stream: ci-jobs
      group: ci-workers
    - name: lint
      mode: pooled
      slots: 4
      cpu: "2"
      memory: 4Gi
      cpuLimit: "4"
      maxReplicas: 2
      minReplicas: 1
    - name: deploy
      mode: direct
      cpu: 500m
      memory: 1Gi
      timeout: 20m
`;
const objs = objectsUnder('apps/agents/', MIXED);
const api = objectsUnder('apps/api/', MIXED);

describe('pooled pool: Deployment + KEDA ScaledObject', () => {
  const deployment = findObject(objs, 'Deployment', 'agent-lint', 'ci');
  const so = findObject(objs, 'ScaledObject', 'agent-lint', 'ci');
  const pod = podSpecOf(deployment);
  const worker = pod.containers[0];
  const env = (name: string) => worker.env.find((e: { name: string }) => e.name === name)?.value;

  it('targets the Deployment', () => {
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'agent-lint' });
  });

  it('scales on lag + pending divided by the slots per pod', () => {
    expect(so.spec.advanced.scalingModifiers).toEqual({ formula: 'lag + pending', target: '4', activationTarget: '0', metricType: 'AverageValue' });
    expect(so.spec.triggers.map((t: any) => [t.type, t.name, t.metadata.lagCount, t.metadata.pendingEntriesCount, t.authenticationRef.name])).toEqual([
      ['redis-streams', 'lag', '4', undefined, 'redis-keda'],
      ['redis-streams', 'pending', undefined, '4', 'redis-keda'],
    ]);
    for (const t of so.spec.triggers) expect(t.metadata).toMatchObject({ stream: 'ci-lint', consumerGroup: 'ci-workers' });
  });

  it('takes min and max replicas from the config and polls every 5 s', () => {
    expect([so.spec.minReplicaCount, so.spec.maxReplicaCount, so.spec.pollingInterval]).toEqual([1, 2, 5]);
  });

  it('scales down slowly: one worker per 5 minutes after 10 minutes of lower demand', () => {
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown).toEqual({ stabilizationWindowSeconds: 600, policies: [{ type: 'Pods', value: 1, periodSeconds: 300 }] });
  });

  it('leaves spec.replicas to the HPA', () => {
    expect(deployment.spec.replicas).toBeUndefined();
  });

  it('runs MAX_CONCURRENT_JOBS = slots', () => {
    expect(env('MAX_CONCURRENT_JOBS')).toBe('4');
    expect(env('RAIBID_MODE')).toBe('pooled');
  });

  it('probes a health endpoint on a declared port', () => {
    expect(worker.ports).toEqual([{ name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    expect(worker.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(worker.readinessProbe).toEqual({ httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2 });
  });

  it('keeps running when idle: no idle exit for workers', () => {
    expect(env('RAIBID_IDLE_EXIT_SECONDS')).toBeUndefined();
  });

  it('drains before it stops and may take longer than the build timeout', () => {
    expect(worker.lifecycle.preStop).toEqual({ exec: { command: ['raibid', 'agent', 'drain'] } });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(1800);
    expect(pod.restartPolicy).toBe('Always');
  });

  it('never runs more workers than planned during a rollout', () => {
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
  });

  it('requests the pool resources per pod with the burst CPU limit', () => {
    expect(worker.resources).toEqual({ requests: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '53Gi' }, limits: { cpu: '4', memory: '4Gi', 'ephemeral-storage': '53Gi' } });
  });
});

describe('direct pool: Job template for the API', () => {
  const cm = findObject(objs, 'ConfigMap', 'agent-deploy-job', 'ci');
  const job = parse(cm.data['job.yaml']) as K8sObject & { metadata: { generateName?: string } };
  const pod = job.spec.template.spec;

  it('creates no autoscaler', () => {
    expect(objs.filter((o) => ['ScaledJob', 'ScaledObject'].includes(o.kind) && o.metadata.name === 'agent-deploy')).toEqual([]);
  });

  it('keeps a Job template with the timeout, no retries and a TTL', () => {
    expect(job.kind).toBe('Job');
    expect(job.metadata.generateName).toBe('agent-deploy-');
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1200 + 60 + 10 + 300, ttlSecondsAfterFinished: 3600, parallelism: 1, completions: 1 });
    expect(pod.restartPolicy).toBe('Never');
  });

  it('turns Ready only once its agent has claimed an entry, and exits after 60 idle seconds', () => {
    const agent = pod.containers[0];
    expect(agent.ports).toEqual([{ name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    expect(agent.readinessProbe).toMatchObject({ httpGet: { path: '/claimed', port: 'health' }, periodSeconds: 1 });
    expect(agent.env.find((e: { name: string }) => e.name === 'RAIBID_IDLE_EXIT_SECONDS').value).toBe('60');
  });

  it('uses the same security settings as every agent pod', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0].securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes.find((v: any) => v.name === 'workspace').emptyDir).toEqual({ sizeLimit: '50Gi' });
    expect(pod.containers[0].resources.limits['ephemeral-storage']).toBe('53Gi');
  });

  it('tells the API the planned concurrency limit', () => {
    const plan = synthesize(config(MIXED)).capacity;
    expect(parse(cm.data['pool.yaml'])).toEqual({ pool: 'deploy', stream: 'ci-deploy', group: 'ci-workers', maxConcurrentJobs: plan.pools[2].replicas });
  });

  it('gives the API a Role that manages Jobs and reads pod logs in ci, and nothing else', () => {
    const role = findObject(api, 'Role', 'raibid-api-jobs', 'ci');
    expect(role.rules).toEqual([
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
    const binding = findObject(api, 'RoleBinding', 'raibid-api-jobs', 'ci');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'raibid-api-jobs' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'raibid-api', namespace: 'ci', apiGroup: '' }]);
  });

  it('mounts the Job template into the API', () => {
    const spec = podSpecOf(findObject(api, 'Deployment', 'raibid-api'));
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(spec.volumes).toContainEqual({ name: 'job-deploy', configMap: { name: 'agent-deploy-job' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'job-deploy', mountPath: '/etc/raibid/jobs/deploy', readOnly: true });
  });
});

describe('several pools in mixed modes', () => {
  it('puts every agent pod template, in every mode, in the agent PriorityClass the tree declares', () => {
    const templates = [podSpecOf(findObject(objs, 'ScaledJob', 'agent-rust')), podSpecOf(findObject(objs, 'Deployment', 'agent-lint')), parse(findObject(objs, 'ConfigMap', 'agent-deploy-job').data['job.yaml']).spec.template.spec];
    expect(templates.map((t) => t.priorityClassName)).toEqual(['raibid-agents', 'raibid-agents', 'raibid-agents']);
    expect(findObject(allObjects(MIXED), 'PriorityClass', 'raibid-agents').preemptionPolicy).toBe('Never');
  });

  it('creates one set of objects per pool in its mode', () => {
    const kinds = (pool: string) => objs.filter((o) => o.metadata.labels?.['raibid-ci.dev/agent-pool'] === pool).map((o) => o.kind).sort();
    expect(kinds('rust')).toEqual(['ScaledJob']);
    expect(kinds('lint')).toEqual(['Deployment', 'ScaledObject']);
    expect(kinds('deploy')).toEqual(['ConfigMap']);
  });

  it('gives every pool its own caches, all pruned by one CronJob', () => {
    const pruned = podSpecOf(findObject(objs, 'CronJob', 'agent-cache-prune')).volumes.map((v: any) => v.persistentVolumeClaim.claimName);
    for (const pool of ['rust', 'lint', 'deploy']) {
      findObject(objs, 'PersistentVolumeClaim', `agent-${pool}-cargo`);
      findObject(objs, 'PersistentVolumeClaim', `agent-${pool}-sccache`);
      expect(pruned).toEqual(expect.arrayContaining([`agent-${pool}-cargo`, `agent-${pool}-sccache`]));
    }
  });

  it('sizes auto pools from what the fixed pool leaves', () => {
    const plan = synthesize(config(MIXED)).capacity;
    expect(plan.fits).toBe(true);
    expect(plan.pools.map((p) => [p.name, p.maxReplicas])).toEqual([['rust', 'auto'], ['lint', 2], ['deploy', 'auto']]);
    expect(plan.free.cpuMillis).toBeLessThan(Math.min(...plan.pools.filter((p) => p.maxReplicas === 'auto').map((p) => p.cpuMillis)));
  });

  it('shares one TriggerAuthentication between the autoscaled pools', () => {
    expect(objs.filter((o) => o.kind === 'TriggerAuthentication').map((o) => o.metadata.name)).toEqual(['redis-keda']);
  });

  it('creates no TriggerAuthentication when every pool is direct', () => {
    expect(objectsUnder('apps/agents/', 'agents:\n  pools:\n    - name: only\n      mode: direct\n').filter((o) => o.kind === 'TriggerAuthentication')).toEqual([]);
  });

  it('matches the snapshot', () => {
    expect(objs.filter((o) => ['Deployment', 'ScaledObject', 'ConfigMap'].includes(o.kind))).toMatchSnapshot();
  });
});
