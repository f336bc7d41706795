import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiObject, App, Chart, Lazy } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { BuildCache, pruneScript } from '../src/agents/build-cache.js';
import { Agents } from '../src/agents/agents.js';
import { EphemeralPool } from '../src/agents/ephemeral-pool.js';
import { buildApp } from '../src/app.js';
import { imageSource } from '../src/images/inputs.js';
import { findObject, objectsUnder, podSpecOf, config, OWN_IMAGES_WITHOUT_BUILDKIT } from './helpers.js';
import { imageTagSerializer } from './image-tags.js';

expect.addSnapshotSerializer(imageTagSerializer);

const objs = objectsUnder('apps/agents/');
const scaledJob = findObject(objs, 'ScaledJob', 'agent-rust', 'ci');
const pod = podSpecOf(scaledJob);
const agent = pod.containers[0];
const env = (name: string) => agent.env.find((e: { name: string }) => e.name === name);

describe('ephemeral pool (default rust pool): KEDA ScaledJob', () => {
  it('is one ScaledJob in the ci namespace named after the pool', () => {
    expect(objs.filter((o) => o.kind === 'ScaledJob').map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['ci/agent-rust']);
  });

  it('scales on the consumer group lag, one job per entry', () => {
    expect(scaledJob.spec.triggers).toEqual([
      {
        type: 'redis-streams',
        name: 'lag',
        metadata: { address: 'redis.infrastructure.svc.cluster.local:6379', stream: 'ci-jobs', consumerGroup: 'ci-workers', lagCount: '1', activationLagCount: '0' },
        authenticationRef: { name: 'redis-keda' },
      },
    ]);
  });

  it('never uses pendingEntriesCount or streamLength on an ephemeral pool', () => {
    expect(Object.keys(scaledJob.spec.triggers[0].metadata)).not.toContain('pendingEntriesCount');
    expect(Object.keys(scaledJob.spec.triggers[0].metadata)).not.toContain('streamLength');
  });

  it('keeps every trigger metadata value a string and no credential in it', () => {
    for (const v of Object.values(scaledJob.spec.triggers[0].metadata)) expect(typeof v).toBe('string');
    expect(Object.keys(scaledJob.spec.triggers[0].metadata).filter((k) => /user|pass/i.test(k))).toEqual([]);
  });

  it('uses the accurate strategy with pendingPodConditions', () => {
    expect(scaledJob.spec.scalingStrategy).toEqual({ strategy: 'accurate', pendingPodConditions: ['PodScheduled', 'Ready'] });
  });

  it('counts a Job as pending until its agent has claimed its entry: readiness is the claim, probed every second', () => {
    expect(scaledJob.spec.scalingStrategy.pendingPodConditions).toContain('Ready');
    expect(agent.ports).toEqual([{ name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    expect(agent.readinessProbe).toEqual({ httpGet: { path: '/claimed', port: 'health' }, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
    expect(agent.livenessProbe).toBeUndefined();
  });

  it('tells an agent that finds no entry to exit after 60 seconds', () => {
    expect(env('RAIBID_IDLE_EXIT_SECONDS').value).toBe('60');
  });

  it('takes idleExitSeconds from its props', () => {
    const pool = new EphemeralPool(new Chart(new App(), 'c'), 'p', { config: config(), pool: config().agents.pools[0], cacheClaims: { cargo: 'a', sccache: 'b' }, maxReplicas: () => 1, idleExitSeconds: 20 });
    expect(pool.idleExitSeconds).toBe(20);
    const sj: any = Chart.of(pool).toJson().find((o: any) => o.kind === 'ScaledJob');
    expect(sj.spec.jobTargetRef.template.spec.containers[0].env.find((e: any) => e.name === 'RAIBID_IDLE_EXIT_SECONDS').value).toBe('20');
  });

  it('fails on an idleExitSeconds below one second', () => {
    expect(() => new EphemeralPool(new Chart(new App(), 'c'), 'p', { config: config(), pool: config().agents.pools[0], cacheClaims: { cargo: 'a', sccache: 'b' }, maxReplicas: () => 1, idleExitSeconds: 0 })).toThrow(
      "'idleExitSeconds' (0) must be a whole number of seconds, at least 1, such as 60",
    );
  });

  it('rolls out gradually so GitOps changes never kill running builds', () => {
    expect(scaledJob.spec.rollout).toEqual({ strategy: 'gradual' });
  });

  it('runs each job once: restartPolicy Never, backoffLimit 0, one pod', () => {
    expect(pod.restartPolicy).toBe('Never');
    expect(scaledJob.spec.jobTargetRef).toMatchObject({ backoffLimit: 0, parallelism: 1, completions: 1 });
  });

  it('stops a build at the pool timeout (default 30 min), and lets the agent report it before Kubernetes\' deadline', () => {
    expect(env('JOB_TIMEOUT_SECONDS').value).toBe('1800');
    // timeout + idle wait (60 s) + kill grace (10 s) + scheduling and image pull margin (300 s)
    expect(scaledJob.spec.jobTargetRef.activeDeadlineSeconds).toBe(1800 + 60 + 10 + 300);
    expect(env('RAIBID_KILL_GRACE_SECONDS').value).toBe('10');
  });

  it('keeps a bounded job history', () => {
    expect([scaledJob.spec.successfulJobsHistoryLimit, scaledJob.spec.failedJobsHistoryLimit]).toEqual([5, 10]);
  });

  it('polls every 5 seconds and scales from zero', () => {
    expect([scaledJob.spec.pollingInterval, scaledJob.spec.minReplicaCount]).toEqual([5, 0]);
  });

  it('takes maxReplicaCount from the config when it is a number', () => {
    const sj = findObject(objectsUnder('apps/agents/', 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      maxReplicas: 3\n      timeout: 45m\n      pollingInterval: 10\n      activationLagCount: 2\n'), 'ScaledJob', 'agent-rust');
    expect(sj.spec.maxReplicaCount).toBe(3);
    expect(sj.spec.jobTargetRef.activeDeadlineSeconds).toBe(2700 + 370);
    expect(sj.spec.pollingInterval).toBe(10);
    expect(sj.spec.triggers[0].metadata.activationLagCount).toBe('2');
  });

  it('takes maxReplicaCount from the capacity plan when auto (≥ 7 on the DGX Spark)', () => {
    expect(scaledJob.spec.maxReplicaCount).toBeGreaterThanOrEqual(7);
  });
});

describe('Redis credentials for KEDA', () => {
  it('come from a TriggerAuthentication with secretTargetRef username/password', () => {
    expect(findObject(objs, 'TriggerAuthentication', 'redis-keda', 'ci').spec).toEqual({
      secretTargetRef: [
        { parameter: 'username', name: 'redis-keda', key: 'username' },
        { parameter: 'password', name: 'redis-keda', key: 'password' },
      ],
    });
  });
});

describe('every agent pod', () => {
  it('runs non-root with no privilege escalation, all capabilities dropped and seccomp RuntimeDefault', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(agent.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('runs in the low agent PriorityClass, so node pressure evicts agents before the platform', () => {
    expect(pod.priorityClassName).toBe('raibid-agents');
  });

  it('has no API token and a dedicated ServiceAccount', () => {
    expect(pod.serviceAccountName).toBe('raibid-agent');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(findObject(objs, 'ServiceAccount', 'raibid-agent', 'ci').automountServiceAccountToken).toBe(false);
  });

  it('requests the pool resources (2 CPU, 4 GiB, 53 GiB of scratch disk) with limits', () => {
    expect(agent.resources).toEqual({ requests: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '53Gi' }, limits: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '53Gi' } });
  });

  it('bounds its scratch space: a 50 GiB workspace, 1 GiB /tmp and $HOME', () => {
    expect(pod.volumes.filter((v: any) => v.emptyDir)).toEqual([
      { name: 'workspace', emptyDir: { sizeLimit: '50Gi' } },
      { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
      { name: 'home', emptyDir: { sizeLimit: '1Gi' } },
    ]);
    expect(agent.volumeMounts).toEqual(expect.arrayContaining([{ name: 'workspace', mountPath: '/workspace' }]));
  });

  it('takes the workspace size from agents.pools[].workspace, and its ephemeral storage with it', () => {
    const p = podSpecOf(findObject(objectsUnder('apps/agents/', 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      workspace: 120Gi\n'), 'ScaledJob', 'agent-rust'));
    expect(p.volumes.find((v: any) => v.name === 'workspace').emptyDir).toEqual({ sizeLimit: '120Gi' });
    expect(p.containers[0].resources.limits['ephemeral-storage']).toBe('123Gi');
    expect(p.containers[0].resources.requests['ephemeral-storage']).toBe('123Gi');
  });

  it('fails on a workspace below 1 GiB', () => {
    expect(() => config('agents:\n  pools:\n    - name: rust\n      workspace: 512Mi\n')).toThrow(
      'raibid.yaml: agents.pools[0].workspace: expected at least 1Gi: a checkout with its build output needs tens of GiB, such as "50Gi", got "512Mi"',
    );
  });

  it('runs the rust toolchain image raibid-ci builds, tagged with its content, from the admin\'s registry namespace', () => {
    expect(agent.image).toBe(`gitea.dgx.local/raibid-admin/agent-rust:${imageSource('agent-rust').tag}`);
  });

  it('gets Redis URL, stream, group and a consumer name per pod', () => {
    expect(env('REDIS_URL').value).toBe('redis://redis.infrastructure.svc.cluster.local:6379');
    expect(env('REDIS_STREAM').value).toBe('ci-jobs');
    expect(env('REDIS_GROUP').value).toBe('ci-workers');
    expect(env('REDIS_CONSUMER').valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
  });

  it('acts on Gitea as the non-admin bot user (gitea.bot)', () => {
    expect(env('GITEA_USER').value).toBe('raibid-bot');
    const custom = podSpecOf(findObject(objectsUnder('apps/agents/', 'gitea:\n  bot:\n    username: ci-robot\n'), 'ScaledJob', 'agent-rust')).containers[0];
    expect(custom.env.find((e: { name: string }) => e.name === 'GITEA_USER').value).toBe('ci-robot');
  });

  it('gets secrets only by reference', () => {
    expect(env('REDIS_USERNAME').valueFrom).toEqual({ secretKeyRef: { name: 'redis-agent', key: 'username' } });
    expect(env('REDIS_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'redis-agent', key: 'password' } });
    expect(env('GITEA_TOKEN').valueFrom).toEqual({ secretKeyRef: { name: 'gitea-agent-token', key: 'token' } });
  });

  it('gets the Gitea URL and the BuildKit address with per-architecture registry cache refs', () => {
    expect(env('GITEA_URL').value).toBe('http://gitea-http.infrastructure.svc.cluster.local:3000');
    expect(env('BUILDKIT_HOST').value).toBe('tcp://buildkitd.buildkit.svc.cluster.local:1234');
    expect(env('BUILDKIT_CACHE_EXPORT').value).toBe('type=registry,ref={image}:buildcache-arm64,mode=max,image-manifest=true,oci-mediatypes=true,registry.insecure=true');
  });

  it('mounts the build caches', () => {
    expect(agent.volumeMounts).toEqual(expect.arrayContaining([{ name: 'cargo', mountPath: '/cache/cargo' }, { name: 'sccache', mountPath: '/cache/sccache' }]));
    expect(pod.volumes).toEqual(expect.arrayContaining([{ name: 'cargo', persistentVolumeClaim: { claimName: 'agent-rust-cargo' } }, { name: 'sccache', persistentVolumeClaim: { claimName: 'agent-rust-sccache' } }]));
    expect(env('CARGO_HOME').value).toBe('/cache/cargo');
    expect(env('SCCACHE_DIR').value).toBe('/cache/sccache');
  });

  it('sizes sccache from the pool\'s one shared volume (90% of it), not per agent', () => {
    expect(env('SCCACHE_CACHE_SIZE').value).toBe('27G');
    const big = podSpecOf(findObject(objectsUnder('apps/agents/', 'agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      maxReplicas: 2\n      cache:\n        sccache: 100Gi\n'), 'ScaledJob', 'agent-rust'));
    expect(big.containers[0].env.find((e: { name: string }) => e.name === 'SCCACHE_CACHE_SIZE').value).toBe('90G');
  });

  it('leaves BuildKit out when it is disabled', () => {
    const p = podSpecOf(findObject(objectsUnder('apps/agents/', OWN_IMAGES_WITHOUT_BUILDKIT), 'ScaledJob', 'agent-rust'));
    expect(p.containers[0].env.map((e: { name: string }) => e.name)).not.toContain('BUILDKIT_HOST');
  });
});

describe('build caches', () => {
  const pvc = (name: string) => findObject(objs, 'PersistentVolumeClaim', name, 'ci');

  it('are two PVCs per pool sized from the config (50 GiB in all by default)', () => {
    expect(pvc('agent-rust-cargo').spec.resources.requests.storage).toBe('20Gi');
    expect(pvc('agent-rust-sccache').spec.resources.requests.storage).toBe('30Gi');
  });

  it('use the cache storage class and are never pruned by Flux', () => {
    for (const name of ['agent-rust-cargo', 'agent-rust-sccache']) {
      expect(pvc(name).spec.storageClassName).toBe('local-path');
      expect(pvc(name).metadata.annotations).toEqual({ 'kustomize.toolkit.fluxcd.io/prune': 'disabled' });
    }
  });

  it('are pruned daily of entries unused for 7 days, by one CronJob', () => {
    expect(objs.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name)).toEqual(['agent-cache-prune']);
    const cron = findObject(objs, 'CronJob', 'agent-cache-prune', 'ci');
    expect(cron.spec.schedule).toBe('0 3 * * *');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const spec = podSpecOf(cron);
    const c = spec.containers[0];
    expect(c.image).toBe('docker.io/library/busybox:1.37.0');
    expect(c.command[2]).toContain('prune /cache/rust/cargo\nprune /cache/rust/sccache');
    expect(c.command[2]).toContain('-amin +10080 -exec rm -f {} +');
    expect(spec.volumes.map((v: any) => v.persistentVolumeClaim.claimName)).toEqual(['agent-rust-cargo', 'agent-rust-sccache']);
  });

  it('are pruned in the agent PriorityClass', () => {
    expect(podSpecOf(findObject(objs, 'CronJob', 'agent-cache-prune', 'ci')).priorityClassName).toBe('raibid-agents');
  });

  it('follow cacheMaxAge and the prune schedule', () => {
    const cron = findObject(objectsUnder('apps/agents/', 'agents:\n  cacheMaxAge: 36h\n  cachePruneSchedule: "30 4 * * 0"\n'), 'CronJob', 'agent-cache-prune');
    expect(cron.spec.schedule).toBe('30 4 * * 0');
    expect(podSpecOf(cron).containers[0].command[2]).toContain('-amin +2160');
  });

  it('prune with a script that removes old files, then empty folders, and fails on any error', () => {
    const script = pruneScript(60, ['/a']);
    expect(script).toContain('find "$1" -mindepth 1 -type f -amin +60 -exec rm -f {} +');
    expect(script).toContain('prune /a');
    expect(script).not.toContain('-delete');
  });

  it('prunes old entries of every cache, keeps fresh ones, and fails at the end when a folder could not be pruned', () => {
    const root = mkdtempSync(join(tmpdir(), 'raibid-prune-'));
    try {
      const [a, b] = [join(root, 'a'), join(root, 'b')];
      for (const d of [join(a, 'old-dir'), join(a, 'new-dir'), b]) mkdirSync(d, { recursive: true });
      for (const f of [join(a, 'old-dir', 'stale.rlib'), join(a, 'fresh.rlib'), join(b, 'stale.o')]) writeFileSync(f, 'x');
      const past = new Date(Date.now() - 3 * 3600_000);
      for (const p of [join(a, 'old-dir', 'stale.rlib'), join(b, 'stale.o')]) utimesSync(p, past, past);
      const run = spawnSync('sh', ['-c', pruneScript(60, [join(root, 'missing'), a, b])], { encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`prune: could not prune every file in ${join(root, 'missing')}`);
      expect([existsSync(join(a, 'old-dir', 'stale.rlib')), existsSync(join(b, 'stale.o'))]).toEqual([false, false]);
      expect([existsSync(join(a, 'fresh.rlib')), existsSync(join(a, 'new-dir'))]).toEqual([true, true]);
      expect(spawnSync('sh', ['-c', pruneScript(60, [a, b])]).status).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails on a cache size that is not a whole number of GiB', () => {
    const c = config();
    const pool = { ...c.agents.pools[0], cache: { cargo: '1500Mi', sccache: '30Gi' } };
    expect(() => new BuildCache(new App(), 'cache', { config: c, pool, path: 'agents.pools[0]' })).toThrow(`'agents.pools[0].cache.cargo' ("1500Mi") must be a whole number of GiB, at least 1, such as "20Gi"`);
  });
});

describe('agents NetworkPolicy', () => {
  const policy = findObject(objs, 'NetworkPolicy', 'agents', 'ci');
  const egressTo = (ns: string) => policy.spec.egress.find((e: any) => e.to[0].namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] === ns && e.to[0].podSelector);

  it('selects every agent pod', () => {
    expect(policy.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/component': 'agent', 'app.kubernetes.io/part-of': 'raibid-ci' } });
  });

  it('lets agents reach Redis, Gitea, BuildKit and the internet on the configured ports', () => {
    const ports = (rule: any) => rule.ports.map((p: any) => p.port);
    const rules = policy.spec.egress;
    expect(rules.map(ports)).toEqual([[6379], [3000, 2222], [1234], [443]]);
    expect(egressTo('infrastructure').to[0].podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'redis', 'app.kubernetes.io/part-of': 'raibid-ci' });
    expect(rules[2].to[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'buildkit' });
    expect(rules[3].to[0].ipBlock.cidr).toBe('0.0.0.0/0');
  });

  it('allows no ingress to agents', () => {
    expect(policy.spec.policyTypes).toEqual(['Egress']);
  });
});

describe('the Agents chart', () => {
  it('is found in the app and exposes its capacity plan', () => {
    const agents = Agents.find(buildApp(config()));
    expect(agents?.capacity.fits).toBe(true);
  });

  it('fails for a pool the plan does not know', () => {
    const agents = Agents.find(buildApp(config()));
    expect(() => agents?.maxReplicasOf('nope')).toThrow('capacity: no pool named "nope" in the plan');
  });

  it('fails when a workload outside the pools depends on the pool sizes', () => {
    const app = buildApp(config());
    const agents = Agents.find(app)!;
    const pod = { containers: [{ name: 'x', image: 'x:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] };
    new ApiObject(new Chart(app, 'cyclic'), 'deploy', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cyclic' }, spec: { replicas: Lazy.any({ produce: () => agents.maxReplicasOf('rust') }), template: { spec: pod } } });
    expect(() => agents.capacity).toThrow('capacity: the plan was requested while it was being computed; an object outside the agent pools must not depend on pool sizes');
  });

  it('a ConfigMap may carry the pool sizes: the plan never renders kinds that request nothing (the API settings do this)', () => {
    const app = buildApp(config());
    const agents = Agents.find(app)!;
    const cm = new ApiObject(new Chart(app, 'sizes'), 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sizes' }, data: { n: Lazy.any({ produce: () => String(agents.maxReplicasOf('rust')) }) } });
    expect(agents.capacity.fits).toBe(true);
    expect(cm.toJson().data.n).toBe(String(agents.maxReplicasOf('rust')));
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});
