import { describe, expect, it } from 'vitest';
import { checkPolicies } from '../src/policy/rules/index.js';
import { POD_SECURITY_EXCEPTIONS } from '../src/policy/exceptions.js';
import type { LoadedDocument } from '../src/policy/documents.js';
import { stringify } from 'yaml';
import { allObjects, config, type K8sObject } from './helpers.js';

const cfg = config();
const labels = { 'app.kubernetes.io/name': 'web' };

function hardenedContainer(): Record<string, any> {
  return {
    name: 'web',
    image: 'docker.io/library/nginx:1.27.3',
    ports: [{ name: 'http', containerPort: 8080 }],
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' } },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  };
}

/** A small world that passes every rule; each negative test breaks one thing in it. */
function world(): K8sObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci', labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.33' } } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace: 'ci' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-dns', namespace: 'ci' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }] }] } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web', namespace: 'ci' }, spec: { podSelector: { matchLabels: labels }, policyTypes: ['Ingress'], ingress: [{ ports: [{ port: 8080 }] }] } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'ci' }, automountServiceAccountToken: false },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'ci' },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'web',
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [hardenedContainer()],
            volumes: [{ name: 'tmp', emptyDir: {} }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ci' }, spec: { selector: labels, ports: [{ port: 80, targetPort: 'http' }] } },
    { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'raibid-retain' }, provisioner: 'rancher.io/local-path', reclaimPolicy: 'Retain' },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'infrastructure', annotations: { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' } },
      spec: { storageClassName: 'raibid-retain', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'jobs', namespace: 'ci' }, rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get'] }] },
  ] as K8sObject[];
}

const docs = (objs: readonly K8sObject[]): LoadedDocument[] => objs.map((doc, i) => ({ where: `world#${i}`, file: 'world', doc }));
const run = (objs: readonly K8sObject[]) => checkPolicies(docs(objs), cfg);
const kind = (objs: K8sObject[], k: string, name?: string) => objs.find((o) => o.kind === k && (name === undefined || o.metadata.name === name))!;
const pod = (objs: K8sObject[]) => kind(objs, 'Deployment').spec.template.spec;
const container = (objs: K8sObject[]) => pod(objs).containers[0];

/** Applies `breakIt` to a fresh world and returns the rules that fire with their paths. */
function violations(breakIt: (objs: K8sObject[]) => void): string[] {
  const objs = world();
  breakIt(objs);
  return run(objs).map((f) => `${f.rule} ${f.path}`);
}

describe('policy rules', () => {
  it('accept the hardened world', () => {
    expect(run(world())).toEqual([]);
  });

  const cases: [string, (o: K8sObject[]) => void, string][] = [
    ['host network', (o) => (pod(o).hostNetwork = true), 'pss-host-namespaces spec.template.spec.hostNetwork'],
    ['host PID', (o) => (pod(o).hostPID = true), 'pss-host-namespaces spec.template.spec.hostPID'],
    ['hostPath volume', (o) => pod(o).volumes.push({ name: 'h', hostPath: { path: '/' } }), 'pss-host-path spec.template.spec.volumes[1].hostPath'],
    ['disallowed volume type', (o) => pod(o).volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } }), 'pss-volume-types spec.template.spec.volumes[1].nfs'],
    ['hostPort', (o) => (container(o).ports[0].hostPort = 80), 'pss-host-port spec.template.spec.containers[0].ports[0].hostPort'],
    ['privileged', (o) => (container(o).securityContext.privileged = true), 'pss-privileged spec.template.spec.containers[0].securityContext.privileged'],
    ['privilege escalation', (o) => delete container(o).securityContext.allowPrivilegeEscalation, 'pss-privilege-escalation spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation'],
    ['capabilities not dropped', (o) => (container(o).securityContext.capabilities.drop = ['NET_RAW']), 'pss-capabilities spec.template.spec.containers[0].securityContext.capabilities.drop'],
    ['capability added', (o) => (container(o).securityContext.capabilities.add = ['SYS_ADMIN']), 'pss-capabilities spec.template.spec.containers[0].securityContext.capabilities.add'],
    ['runAsNonRoot false on the container', (o) => (container(o).securityContext.runAsNonRoot = false), 'pss-run-as-non-root spec.template.spec.containers[0].securityContext.runAsNonRoot'],
    ['root UID', (o) => (pod(o).securityContext.runAsUser = 0), 'pss-root-uid spec.template.spec.securityContext.runAsUser'],
    ['root GID on a container', (o) => (container(o).securityContext.runAsGroup = 0), 'pss-root-uid spec.template.spec.containers[0].securityContext.runAsGroup'],
    ['no seccomp profile', (o) => delete pod(o).securityContext.seccompProfile, 'pss-seccomp spec.template.spec.containers[0].securityContext.seccompProfile.type'],
    ['Unconfined AppArmor', (o) => (container(o).securityContext.appArmorProfile = { type: 'Unconfined' }), 'pss-apparmor spec.template.spec.containers[0].securityContext.appArmorProfile.type'],
    ['writable root filesystem', (o) => (container(o).securityContext.readOnlyRootFilesystem = false), 'read-only-root spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem'],
    ['latest tag', (o) => (container(o).image = 'nginx:latest'), 'image-pinned spec.template.spec.containers[0].image'],
    ['untagged image', (o) => (container(o).image = 'registry:5000/nginx'), 'image-pinned spec.template.spec.containers[0].image'],
    ['no memory limit', (o) => delete container(o).resources.limits, 'resources spec.template.spec.containers[0].resources.limits.memory'],
    ['no CPU request', (o) => delete container(o).resources.requests.cpu, 'resources spec.template.spec.containers[0].resources.requests.cpu'],
    ['no liveness probe', (o) => delete container(o).livenessProbe, 'probes spec.template.spec.containers[0].livenessProbe'],
    ['probe on an undeclared port', (o) => (container(o).readinessProbe.httpGet.port = 9999), 'probes spec.template.spec.containers[0].readinessProbe.httpGet.port'],
    ['secret as a literal env value', (o) => (container(o).env = [{ name: 'DB_PASSWORD', value: 'hunter2hunter2' }]), 'secret-env-literal spec.template.spec.containers[0].env[0].value'],
    ['default ServiceAccount', (o) => (pod(o).serviceAccountName = 'default'), 'service-account spec.template.spec.serviceAccountName'],
    ['token mounted without a role', (o) => (pod(o).automountServiceAccountToken = true), 'service-account-token spec.template.spec.automountServiceAccountToken'],
    ['Service selecting nothing', (o) => (kind(o, 'Service').spec.selector = { 'app.kubernetes.io/name': 'nope' }), 'service-selects spec.selector'],
    ['Service targeting an undeclared port', (o) => (kind(o, 'Service').spec.ports[0].targetPort = 'metrics'), 'service-selects spec.ports[0].targetPort'],
    ['selector not matching the template', (o) => (kind(o, 'Deployment').spec.selector.matchLabels = { 'app.kubernetes.io/name': 'other' }), 'workload-selector spec.selector.matchLabels'],
    ['RBAC wildcard', (o) => (kind(o, 'Role').rules[0].verbs = ['*']), 'rbac rules[0].verbs'],
    ['pods/exec', (o) => (kind(o, 'Role').rules[0].resources = ['pods/exec']), 'rbac rules[0].resources'],
    ['cluster-wide secret reads', (o) => o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'peek' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] } as K8sObject), 'rbac rules[0]'],
    ['cluster-admin binding', (o) => o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [] } as K8sObject), 'rbac roleRef.name'],
    ['a Secret object', (o) => o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ci' } } as K8sObject), 'no-secrets '],
    ['a password in a URL', (o) => (container(o).args = ['--redis=redis://api:s3cr3tpass@redis:6379']), 'credential-literal spec.template.spec.containers[0].args[0]'],
    ['a private key in a ConfigMap', (o) => o.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'k', namespace: 'ci' }, data: { key: '-----BEGIN RSA PRIVATE KEY-----\nabc' } } as K8sObject), 'credential-literal data.key'],
    ['a plain-text Redis ACL password', (o) => o.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'acl', namespace: 'ci' }, data: { 'users.acl': 'user api on >hunter2 ~ci-jobs +xadd' } } as K8sObject), 'credential-literal data.users.acl'],
    ['stateful claim without prune protection', (o) => delete kind(o, 'PersistentVolumeClaim').metadata.annotations, 'stateful-storage metadata.annotations'],
    ['stateful claim on a Delete class', (o) => (kind(o, 'PersistentVolumeClaim').spec.storageClassName = 'local-path'), 'stateful-storage spec.storageClassName'],
    ['Retain class that deletes', (o) => (kind(o, 'StorageClass').reclaimPolicy = 'Delete'), 'stateful-storage reclaimPolicy'],
    ['namespace without restricted', (o) => (kind(o, 'Namespace').metadata.labels!['pod-security.kubernetes.io/enforce'] = 'baseline'), 'namespace-pss metadata.labels["pod-security.kubernetes.io/enforce"]'],
    ['namespace with latest PSS version', (o) => (kind(o, 'Namespace').metadata.labels!['pod-security.kubernetes.io/enforce-version'] = 'latest'), 'namespace-pss metadata.labels["pod-security.kubernetes.io/enforce-version"]'],
    ['namespace without default deny', (o) => o.splice(o.indexOf(kind(o, 'NetworkPolicy', 'default-deny')), 1), 'network-default-deny '],
    ['namespace without DNS egress', (o) => o.splice(o.indexOf(kind(o, 'NetworkPolicy', 'allow-dns')), 1), 'network-default-deny '],
    ['policy selecting no pod', (o) => (kind(o, 'NetworkPolicy', 'web').spec.podSelector = { matchLabels: { app: 'ghost' } }), 'network-selects spec.podSelector'],
  ];

  for (const [what, breakIt, expected] of cases) {
    it(`fails on ${what}`, () => {
      expect(violations(breakIt)).toContain(expected);
    });
  }

  it('fails on a pod no NetworkPolicy covers', () => {
    const objs = world().filter((o) => o.kind !== 'NetworkPolicy');
    expect(run(objs).map((f) => f.rule)).toContain('network-coverage');
  });

  it('checks Job templates kept in ConfigMaps', () => {
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 't' }, spec: { template: { metadata: { labels }, spec: { serviceAccountName: 'web', automountServiceAccountToken: false, restartPolicy: 'Never', containers: [{ ...hardenedContainer(), securityContext: { privileged: true } }] } } } };
    const objs = world();
    objs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'job-template', namespace: 'ci' }, data: { 'job.yaml': stringify(job) } } as K8sObject);
    expect(run(objs).map((f) => `${f.rule} ${f.path}`)).toContain('pss-privileged data["job.yaml"].spec.template.spec.containers[0].securityContext.privileged');
  });

  it('prints the object, the field path and the rule', () => {
    const objs = world();
    container(objs).image = 'nginx';
    expect(run(objs)).toEqual([
      { rule: 'image-pinned', where: 'world#5', object: 'Deployment/web', path: 'spec.template.spec.containers[0].image', message: 'image "nginx" has no tag; pin a version' },
    ]);
  });
});

describe('Pod Security exceptions', () => {
  it('are listed with a reason each', () => {
    expect(POD_SECURITY_EXCEPTIONS.map((e) => [e.namespaceKey, e.enforce, e.reason.length > 40])).toEqual([['buildkit', 'privileged', true]]);
  });

  it('are each used by some object of the default stack', () => {
    const findings = checkPolicies(docs(allObjects()), cfg);
    expect(findings.filter((f) => f.rule === 'exception-unused')).toEqual([]);
  });

  it('fail when unused', () => {
    const objs = world();
    objs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'buildkit', labels: { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/enforce-version': 'v1.33' } } } as K8sObject);
    objs.push(kind(world(), 'NetworkPolicy', 'default-deny'), kind(world(), 'NetworkPolicy', 'allow-dns'));
    objs.slice(-2).forEach((p) => (p.metadata = { ...p.metadata, namespace: 'buildkit' }));
    expect(run(objs).map((f) => f.rule)).toEqual(['exception-unused']);
  });

  it('do not excuse a rule they do not name', () => {
    const objs = world();
    const dep = structuredClone(kind(objs, 'Deployment'));
    dep.metadata.namespace = 'buildkit';
    dep.spec.template.spec.hostNetwork = true;
    objs.push(dep);
    expect(run(objs).map((f) => `${f.rule} ${f.object}`)).toContain('pss-host-namespaces Deployment/web');
  });
});
