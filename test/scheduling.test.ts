import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { ComponentChart } from '../src/gitops/component.js';
import { AGENT_PRIORITY_CLASS, PLATFORM_PRIORITY_CLASS, Scheduling } from '../src/scheduling/priority-classes.js';
import { platformRequestLines } from '../src/capacity/collect.js';
import { bytes } from '../src/config/quantity.js';
import { parseYaml } from '../src/policy/documents.js';
import { allObjects, config, findObject, objectsUnder, podSpecOf, synthError, synthFiles, type K8sObject } from './helpers.js';

const objs = objectsUnder('infrastructure/controllers/scheduling/');
const platform = findObject(objs, 'PriorityClass', 'raibid-platform');
const agents = findObject(objs, 'PriorityClass', 'raibid-agents');

describe('scheduling', () => {
  it('exports the class names other components use', () => {
    expect(PLATFORM_PRIORITY_CLASS).toBe('raibid-platform');
    expect(AGENT_PRIORITY_CLASS).toBe('raibid-agents');
  });

  it('declares exactly two cluster-scoped scheduling.k8s.io/v1 PriorityClasses', () => {
    expect(objs.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata.name}`)).toEqual(['scheduling.k8s.io/v1 PriorityClass/raibid-agents', 'scheduling.k8s.io/v1 PriorityClass/raibid-platform']);
    for (const o of objs) expect(o.metadata.namespace, o.metadata.name).toBeUndefined();
  });

  it('ranks the platform above the agents, and the agents above pods without a class', () => {
    expect(platform.value).toBe(100000);
    expect(agents.value).toBe(1000);
    expect(platform.value).toBeGreaterThan(agents.value);
    expect(agents.value).toBeGreaterThan(0);
    // Far below the system classes (system-cluster-critical is 2,000,000,000).
    expect(platform.value).toBeLessThan(1_000_000_000);
  });

  it('lets platform pods preempt, and agents never', () => {
    expect(platform.preemptionPolicy).toBe('PreemptLowerPriority');
    expect(agents.preemptionPolicy).toBe('Never');
  });

  it('is nobody’s default and says what each class is for', () => {
    expect(platform.globalDefault).toBe(false);
    expect(agents.globalDefault).toBe(false);
    expect(platform.description).toMatch(/platform/);
    expect(agents.description).toMatch(/agents/);
  });

  it('is registered right after storage, in the controllers layer', () => {
    const app = buildApp(config());
    const ids = app.charts.filter(ComponentChart.isComponentChart).map((c) => c.node.id);
    expect(ids.indexOf('scheduling')).toBe(ids.indexOf('storage') + 1);
    const chart = app.node.findChild('scheduling') as Scheduling;
    expect(chart.layer).toBe('controllers');
    expect(chart.folder).toBe('infrastructure/controllers/scheduling');
    expect(synthFiles().get('infrastructure/controllers/kustomization.yaml')).toContain('- scheduling');
  });

  it('is applied by bootstrap before Gitea, whose pods name the platform class', () => {
    const bundle = parseYaml(synthFiles().get('dist/bootstrap.k8s.yaml')!, 'bootstrap') as K8sObject[];
    const at = (kind: string, name: string) => bundle.findIndex((o) => o.kind === kind && o.metadata.name === name);
    expect(at('PriorityClass', 'raibid-platform')).toBeGreaterThanOrEqual(0);
    expect(at('PriorityClass', 'raibid-agents')).toBeGreaterThanOrEqual(0);
    expect(at('PriorityClass', 'raibid-platform')).toBeLessThan(at('Deployment', 'gitea'));
  });

  it('requests nothing, and the capacity planner counts no line for it', () => {
    const app = buildApp(config());
    expect((app.node.findChild('scheduling') as Scheduling).requests).toEqual({ cpuMillis: 0, memoryBytes: 0 });
    expect(platformRequestLines(app).filter((l) => l.source === 'scheduling')).toEqual([]);
  });

  it('gives Gitea, PostgreSQL and Redis the platform class', () => {
    const all = allObjects();
    for (const [kind, name] of [['Deployment', 'gitea'], ['StatefulSet', 'gitea-postgres'], ['StatefulSet', 'redis']] as const) {
      expect(podSpecOf(findObject(all, kind, name, 'infrastructure')).priorityClassName, name).toBe('raibid-platform');
    }
    expect(findObject(all, 'HelmRelease', 'keda', 'keda').spec.values.priorityClassName).toBe('raibid-platform');
  });

  // README: memory pressure evicts builds before Gitea, Redis or PostgreSQL. The kubelet ranks first by
  // whether a pod uses more memory than it requests, then by priority: so these three must never exceed
  // their request (request = limit in every container) and outrank every agent.
  it('keeps kubelet memory-pressure eviction on builds before Gitea, PostgreSQL and Redis', () => {
    const all = allObjects('agents:\n  pools:\n    - name: e\n    - name: p\n      mode: pooled\n    - name: d\n      mode: direct\n');
    for (const [kind, name] of [['Deployment', 'gitea'], ['StatefulSet', 'gitea-postgres'], ['StatefulSet', 'redis']] as const) {
      const spec = podSpecOf(findObject(all, kind, name, 'infrastructure'));
      expect(spec.priorityClassName, name).toBe('raibid-platform');
      for (const c of spec.containers) expect(bytes(c.resources.requests.memory), `${name}/${c.name}`).toBe(bytes(c.resources.limits.memory));
    }
    const agentTemplates = all.filter((o) => o.metadata.namespace === 'ci' && ['ScaledJob', 'Deployment'].includes(o.kind) && o.metadata.name.startsWith('agent-'));
    const directTemplates = all.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('agent-') && 'job.yaml' in (o.data ?? {}));
    expect(agentTemplates.length).toBeGreaterThanOrEqual(2);
    expect(directTemplates.length).toBe(1);
    for (const o of agentTemplates) expect(podSpecOf(o).priorityClassName, o.metadata.name).toBe('raibid-agents');
    for (const o of directTemplates) expect(o.data['job.yaml'], o.metadata.name).toContain('priorityClassName: raibid-agents');
    expect(agents.value).toBeLessThan(platform.value);
  });

  it('fails on a memory request below the limit for Gitea, PostgreSQL or Redis, naming both keys', () => {
    expect(synthError('gitea:\n  resources:\n    memory: 512Mi\n')).toContain(
      'gitea.resources.memory: "512Mi" differs from gitea.resources.memoryLimit "1536Mi": under node memory pressure the kubelet evicts pods using more than they request before any build; set both to the same value',
    );
    expect(synthError('gitea:\n  postgres:\n    resources:\n      memoryLimit: 2Gi\n')).toContain('gitea.postgres.resources.memory: "768Mi" differs from gitea.postgres.resources.memoryLimit "2Gi"');
    expect(synthError('redis:\n  resources:\n    memory: 1800Mi\n')).toContain('redis.resources.memory: "1800Mi" differs from redis.resources.memoryLimit "2Gi"');
  });

  it('declares every class a pod template names', () => {
    const all = allObjects();
    const declared = new Set(all.filter((o) => o.kind === 'PriorityClass').map((o) => o.metadata.name));
    const named = all.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ScaledJob'].includes(o.kind)).flatMap((o) => podSpecOf(o).priorityClassName ?? []);
    expect(named.length).toBeGreaterThanOrEqual(3);
    for (const n of named) expect(declared.has(n), n).toBe(true);
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});
