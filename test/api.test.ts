import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiWebhookUrl } from '../src/endpoints.js';
import { apiSettingsSchema } from '../src/api/contract.js';
import { bytes, cpuMillis } from '../src/config/quantity.js';
import { SECRETS } from '../src/secrets/catalog.js';
import { imageSource } from '../src/images/inputs.js';
import { config, findObject, objectsUnder, podSpecOf } from './helpers.js';
import { imageTagSerializer } from './image-tags.js';

expect.addSnapshotSerializer(imageTagSerializer);

const objs = objectsUnder('apps/api/');
const deployment = findObject(objs, 'Deployment', 'raibid-api', 'ci');
const pod = podSpecOf(deployment);
const api = pod.containers[0];
const env = (name: string) => api.env.find((e: { name: string }) => e.name === name);

describe('API deployment', () => {
  it('uses the configured image (by default the one raibid-ci builds, tagged with its content) and replicas', () => {
    expect(api.image).toBe(`gitea.dgx.local/raibid-admin/raibid-api:${imageSource('raibid-api').tag}`);
    expect(deployment.spec.replicas).toBe(1);
    const custom = findObject(objectsUnder('apps/api/', 'api:\n  image: registry.lan/ci/api:2.0.1\n  replicas: 3\n'), 'Deployment', 'raibid-api');
    expect(custom.spec.replicas).toBe(3);
    expect(podSpecOf(custom).containers[0].image).toBe('registry.lan/ci/api:2.0.1');
  });

  it('selects its pods by the stable labels only', () => {
    expect(deployment.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'raibid-api', 'app.kubernetes.io/part-of': 'raibid-ci' } });
  });

  it('probes /healthz and /readyz on its declared port', () => {
    expect(api.ports).toEqual([{ containerPort: 8080, name: 'http' }]);
    expect(api.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
    expect(api.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 8080 });
  });

  it('wires Redis with the API ACL user, Gitea, and the webhook HMAC secret by reference', () => {
    expect(env('REDIS_URL').value).toBe('redis://redis.infrastructure.svc.cluster.local:6379');
    expect(env('REDIS_USERNAME').valueFrom).toEqual({ secretKeyRef: { name: 'redis-api', key: 'username' } });
    expect(env('REDIS_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'redis-api', key: 'password' } });
    expect(env('GITEA_URL').value).toBe('http://gitea-http.infrastructure.svc.cluster.local:3000');
    expect(env('WEBHOOK_SECRET').valueFrom).toEqual({ secretKeyRef: { name: 'webhook-hmac', key: 'secret' } });
  });

  it('acts on Gitea as the bot user with the bot token, the same identity as the agents, never the admin', () => {
    expect(env('GITEA_USER').value).toBe('raibid-bot');
    expect(env('GITEA_TOKEN').valueFrom).toEqual({ secretKeyRef: { name: 'gitea-agent-token', key: 'token' } });
    expect(SECRETS.find((s) => s.name === 'gitea-agent-token')?.keys.token).toMatchObject({ from: 'gitea-token', user: 'bot' });
    const agent = podSpecOf(findObject(objectsUnder('apps/agents/'), 'ScaledJob', 'agent-rust')).containers[0];
    expect(agent.env.find((e: { name: string }) => e.name === 'GITEA_USER')).toEqual(env('GITEA_USER'));
    expect(env('GITEA_USER').value).not.toBe(config().gitea.admin.username);
  });

  it('follows gitea.bot.username', () => {
    const custom = podSpecOf(findObject(objectsUnder('apps/api/', 'gitea:\n  bot:\n    username: ci-robot\n'), 'Deployment', 'raibid-api')).containers[0];
    expect(custom.env.find((e: { name: string }) => e.name === 'GITEA_USER').value).toBe('ci-robot');
  });

  it('runs hardened: non-root, read-only root, no escalation, all capabilities dropped, seccomp', () => {
    expect(api.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(api.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '1Gi' }, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } });
  });

  it('bounds its scratch space: a 128 MiB /tmp within 1 GiB of ephemeral storage', () => {
    expect(pod.volumes.find((v: any) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '128Mi' } });
  });

  it('runs in the platform PriorityClass, kept before agents', () => {
    expect(pod.priorityClassName).toBe('raibid-platform');
  });

  it('gets no Kubernetes API access without direct pools', () => {
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(findObject(objs, 'ServiceAccount', 'raibid-api').automountServiceAccountToken).toBe(false);
    expect(objs.filter((o) => ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))).toEqual([]);
    expect(findObject(objs, 'NetworkPolicy', 'raibid-api').spec.egress.some((e: any) => e.ports.some((p: any) => p.port === 6443))).toBe(false);
  });

  it('reads its pools and URLs from a ConfigMap', () => {
    const cm = findObject(objs, 'ConfigMap', 'raibid-api', 'ci');
    const settings = parse(cm.data['config.yaml']);
    expect(settings).toEqual({
      listen: '0.0.0.0:8080',
      publicUrl: 'http://ci.dgx.local:8080/',
      namespace: 'ci',
      // The node's reservations (node.systemReserved + node.kubeReserved, and evictionHard for memory):
      // GET /api/v1/cluster subtracts them from the machine, as the kubelet does.
      cluster: { name: 'dgx-spark', reservedCpuMillis: 2000, reservedMemoryBytes: expect.any(Number) },
      // planned: the capacity plan's size of the pool, the same number as its ScaledJob's maxReplicaCount.
      pools: [{ name: 'rust', mode: 'ephemeral', stream: 'ci-jobs', group: 'ci-workers', planned: findObject(objectsUnder('apps/agents/'), 'ScaledJob', 'agent-rust').spec.maxReplicaCount }],
      defaultPool: 'rust',
      allowedOwners: ['*'],
      tagPushes: false,
      supersede: true,
      retentionSeconds: 604800,
      maxAttempts: 3,
      // The repository mirrors (src/mirror/contract.ts): none by default.
      mirrors: { concurrency: 2, schedule: '17 4 * * *', sources: [] },
    });
    const n = config().node;
    expect(settings.cluster.reservedMemoryBytes).toBe(bytes(n.systemReserved.memory) + bytes(n.kubeReserved.memory) + bytes(n.evictionHard));
    expect(settings.cluster.reservedCpuMillis).toBe(cpuMillis(n.systemReserved.cpu) + cpuMillis(n.kubeReserved.cpu));
    expect(settings.pools[0].planned).toBeGreaterThan(0);
    // The runtime reads exactly this file: the shared contract's schema accepts it.
    expect(apiSettingsSchema.safeParse(settings).success).toBe(true);
    expect(env('GITEA_URL').value).toBe('http://gitea-http.infrastructure.svc.cluster.local:3000');
    expect(env('REDIS_URL').value).toBe('redis://redis.infrastructure.svc.cluster.local:6379');
    expect(env('RAIBID_API_CONFIG').value).toBe('/etc/raibid/config.yaml');
  });
});

describe('API exposure', () => {
  it('has an in-cluster Service on port 80 for Gitea webhooks', () => {
    const svc = findObject(objs, 'Service', 'raibid-api', 'ci');
    expect(svc.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] });
  });

  it('gives Gitea an in-cluster webhook URL on that Service', () => {
    expect(apiWebhookUrl(config())).toBe('http://raibid-api.ci.svc.cluster.local/api/v1/webhooks/gitea');
  });

  it('is reachable from the LAN at ci.<domain> through a LoadBalancer on api.lanPort', () => {
    const svc = findObject(objs, 'Service', 'raibid-api-lan', 'ci');
    expect(svc.spec).toMatchObject({ type: 'LoadBalancer', ports: [{ port: 8080, targetPort: 8080 }] });
    expect(findObject(objectsUnder('apps/api/', 'api:\n  lanPort: 9000\n'), 'Service', 'raibid-api-lan').spec.ports[0].port).toBe(9000);
  });

  it('accepts traffic only from Gitea pods and the LAN, and reaches only Redis and Gitea', () => {
    const np = findObject(objs, 'NetworkPolicy', 'raibid-api', 'ci');
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'raibid-api', 'app.kubernetes.io/part-of': 'raibid-ci' } });
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    expect(np.spec.ingress[0].from[0]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infrastructure' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitea', 'app.kubernetes.io/part-of': 'raibid-ci' } } });
    expect(np.spec.ingress[0].from.map((f: any) => f.ipBlock?.cidr).filter(Boolean)).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);
    expect(np.spec.egress.map((e: any) => e.ports.map((p: any) => p.port))).toEqual([[6379], [3000]]);
  });

  it('reaches the Kubernetes API server in direct mode', () => {
    const np = findObject(objectsUnder('apps/api/', 'agents:\n  pools:\n    - name: d\n      mode: direct\n'), 'NetworkPolicy', 'raibid-api');
    expect(np.spec.egress.slice(2)).toEqual([
      { to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.42.0.0/16', '10.43.0.0/16'] } }, { ipBlock: { cidr: '172.16.0.0/12' } }, { ipBlock: { cidr: '192.168.0.0/16' } }], ports: [{ protocol: 'TCP', port: 6443 }] },
      { to: [{ ipBlock: { cidr: '10.43.0.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});
