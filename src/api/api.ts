/**
 * The webhook API (namespace `ci`): receives Gitea webhooks (HMAC-verified), queues jobs on the
 * pools' Redis streams, and for direct pools creates the agent Jobs itself.
 *
 * - Deployment `raibid-api` (image and replicas from `api`), probes on `/healthz` and `/readyz`;
 * - ConfigMap `raibid-api` (`config.yaml`: pools, streams, URLs), mounted at /etc/raibid, and each
 *   direct pool's Job template mounted at /etc/raibid/jobs/<pool>/;
 * - Service `raibid-api` (port 80) for Gitea's webhooks inside the cluster, and `raibid-api-lan`,
 *   a k3s ServiceLB LoadBalancer on `api.lanPort`, for `ci.<domain>` on the LAN;
 * - Gitea access as the non-admin bot user (`gitea.bot`, GITEA_USER + the bot's token), the same identity
 *   as the agents: commit statuses and comments come from one user, never from the admin;
 * - Kubernetes API access only with direct pools: ServiceAccount `raibid-api` bound to a Role that
 *   can create, watch and delete Jobs and read their pods and logs in `ci` — nothing else. Without
 *   direct pools the pod gets no token at all.
 */
import { ApiObject, Duration, JsonPatch, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { stringify } from 'yaml';
import { cpuMillis, bytes } from '../config/quantity.js';
import { API_LAN_SERVICE, API_SERVICE, API_SERVICE_PORT, GITEA_HTTP_PORT, REDIS_PORT, apiPublicUrl, giteaInternalUrl, redisInternalAddress } from '../endpoints.js';
import { API_CONFIG_DIR, API_ENV, API_SETTINGS_FILE, HEALTH_PATH, READY_PATH, directJobTemplatePath, type ApiSettingsInput } from './contract.js';
import { durationSeconds } from '../config/quantity.js';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { allowTraffic, type Flow } from '../network/policy.js';
import { secretName } from '../secrets/catalog.js';
import { jobTemplateConfigMapName } from '../agents/direct-pool.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { mirrorSettings } from '../mirror/settings.js';
import { Agents } from '../agents/agents.js';

/** UID/GID of the API image. */
export const API_UID = 1000;

/** Size limit of the API's /tmp emptyDir, MiB. */
export const API_TMP_MEBIBYTES = 128;
/**
 * Ephemeral storage the API requests and is limited to, GiB (cdk8s-plus takes whole GiB): /tmp at its
 * limit plus its logs, with room to spare.
 */
export const API_EPHEMERAL_STORAGE_GIBIBYTES = 1;

/** A memory quantity as a cdk8s Size in the largest exact binary unit. */
export function memorySize(q: string): Size {
  const n = bytes(q);
  return n % 2 ** 30 === 0 ? Size.gibibytes(n / 2 ** 30) : n % 2 ** 20 === 0 ? Size.mebibytes(n / 2 ** 20) : Size.kibibytes(n / 1024);
}

/** The webhook API. */
export class Api extends ComponentChart {
  /** True when some pool is direct: the API then has a token and the Jobs Role. */
  readonly kubernetesAccess: boolean;
  readonly name = API_SERVICE;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'apps', bootstrap: false });
    const c = props.config;
    const a = c.api;
    const namespace = c.namespaces.ci;
    const name = API_SERVICE;
    const labels = componentLabels(name, 'api');
    const direct = c.agents.pools.filter((p) => p.mode === 'direct');
    this.kubernetesAccess = direct.length > 0;

    const sa = new kplus.ServiceAccount(this, 'service-account', { metadata: { name, namespace, labels }, automountToken: this.kubernetesAccess });
    if (this.kubernetesAccess) {
      const role = new kplus.Role(this, 'role', { metadata: { name: `${name}-jobs`, namespace, labels } });
      role.allow(['create', 'get', 'list', 'watch', 'delete'], kplus.ApiResource.JOBS);
      role.allow(['get', 'list', 'watch'], kplus.ApiResource.PODS);
      role.allow(['get'], kplus.ApiResource.custom({ apiGroup: '', resourceType: 'pods/log' }));
      const binding = new kplus.RoleBinding(this, 'role-binding', { metadata: { name: `${name}-jobs`, namespace, labels }, role });
      binding.addSubjects(sa);
    }

    // Pool sizes come from the capacity plan, which is computed once the whole app is built: the
    // settings are rendered lazily, at synth (the capacity collector never renders a ConfigMap).
    const planned = (pool: string): number | undefined => Agents.find(this.node.root)?.maxReplicasOf(pool);
    const n = c.node;
    const settings = (): ApiSettingsInput => ({
      listen: `0.0.0.0:${a.port}`,
      publicUrl: apiPublicUrl(c),
      namespace,
      cluster: {
        name: c.cluster.name,
        reservedCpuMillis: cpuMillis(n.systemReserved.cpu) + cpuMillis(n.kubeReserved.cpu),
        reservedMemoryBytes: bytes(n.systemReserved.memory) + bytes(n.kubeReserved.memory) + bytes(n.evictionHard),
      },
      pools: c.agents.pools.map((p) => ({
        name: p.name,
        mode: p.mode,
        stream: p.stream,
        group: p.group,
        ...(p.mode === 'direct' ? { jobTemplate: directJobTemplatePath(p.name) } : {}),
        planned: planned(p.name),
      })),
      defaultPool: c.jobs.defaultPool,
      allowedOwners: [...c.jobs.allowedOwners],
      tagPushes: c.jobs.tagPushes,
      supersede: c.jobs.supersede,
      retentionSeconds: durationSeconds(c.jobs.retention),
      maxAttempts: c.jobs.maxAttempts,
      // GitHub pushes to mirrors, CI of mirrors and GET /mirrors read the same list as the mirror CronJob.
      mirrors: mirrorSettings(c),
    });
    const config = new kplus.ConfigMap(this, 'config', { metadata: { name, namespace, labels }, data: { 'config.yaml': Lazy.any({ produce: () => stringify(settings(), { lineWidth: 0 }) }) as unknown as string } });

    const secretEnv = (sid: string, secret: string, key: string) => kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, sid, secretName(secret)), key });
    const volumeMounts: kplus.VolumeMount[] = [
      { path: API_CONFIG_DIR, volume: kplus.Volume.fromConfigMap(this, 'config-volume', config, { name: 'config' }), readOnly: true },
      { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'tmp-volume', 'tmp', { sizeLimit: Size.mebibytes(API_TMP_MEBIBYTES) }) },
      ...direct.map((p) => ({
        path: directJobTemplatePath(p.name),
        volume: kplus.Volume.fromConfigMap(this, `job-${p.name}`, kplus.ConfigMap.fromConfigMapName(this, `job-${p.name}-ref`, jobTemplateConfigMapName(p.name)), { name: `job-${p.name}` }),
        readOnly: true,
      })),
    ];

    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace, labels },
      replicas: a.replicas,
      select: false,
      podMetadata: { labels },
      serviceAccount: sa,
      automountServiceAccountToken: this.kubernetesAccess,
      securityContext: { ensureNonRoot: true, user: API_UID, group: API_UID },
      containers: [
        {
          name: 'api',
          image: a.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ name: 'http', number: a.port }],
          envVariables: {
            [API_ENV.settings]: kplus.EnvValue.fromValue(API_SETTINGS_FILE),
            [API_ENV.redisUrl]: kplus.EnvValue.fromValue(`redis://${redisInternalAddress(c)}`),
            [API_ENV.redisUsername]: secretEnv('redis-username', 'redis-api', 'username'),
            [API_ENV.redisPassword]: secretEnv('redis-password', 'redis-api', 'password'),
            [API_ENV.giteaUrl]: kplus.EnvValue.fromValue(giteaInternalUrl(c)),
            // The agents' identity: the non-admin bot (gitea.bot), whose token gitea-agent-token holds.
            [API_ENV.giteaUser]: kplus.EnvValue.fromValue(c.gitea.bot.username),
            [API_ENV.giteaToken]: secretEnv('gitea-token', 'gitea-agent-token', 'token'),
            [API_ENV.webhookSecret]: secretEnv('webhook-secret', 'webhook-hmac', 'secret'),
            [API_ENV.githubWebhookSecret]: secretEnv('github-webhook-secret', 'github-webhook-hmac', 'secret'),
            [API_ENV.adminToken]: secretEnv('admin-token', 'raibid-api-tokens', 'admin'),
            [API_ENV.readToken]: secretEnv('read-token', 'raibid-api-tokens', 'read'),
          },
          resources: {
            cpu: { request: kplus.Cpu.millis(cpuMillis(a.resources.cpu)), ...(a.resources.cpuLimit !== undefined ? { limit: kplus.Cpu.millis(cpuMillis(a.resources.cpuLimit)) } : {}) },
            memory: { request: memorySize(a.resources.memory), limit: memorySize(a.resources.memoryLimit) },
            ephemeralStorage: { request: Size.gibibytes(API_EPHEMERAL_STORAGE_GIBIBYTES), limit: Size.gibibytes(API_EPHEMERAL_STORAGE_GIBIBYTES) },
          },
          liveness: kplus.Probe.fromHttpGet(HEALTH_PATH, { port: a.port, periodSeconds: Duration.seconds(20), failureThreshold: 3 }),
          readiness: kplus.Probe.fromHttpGet(READY_PATH, { port: a.port, periodSeconds: Duration.seconds(10), failureThreshold: 2 }),
          securityContext: {
            ensureNonRoot: true,
            user: API_UID,
            group: API_UID,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: [kplus.Capability.ALL] },
            seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
          },
          volumeMounts,
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: selectorLabels(name) }));
    // cdk8s-plus-28 has no priorityClassName: webhooks must keep arriving while agents are evicted.
    ApiObject.of(deployment).addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', PLATFORM_PRIORITY_CLASS));

    const service = (sid: string, serviceName: string, type: kplus.ServiceType, port: number) => {
      const s = new kplus.Service(this, sid, {
        metadata: { name: serviceName, namespace, labels },
        type,
        ports: [{ name: 'http', port, targetPort: a.port, protocol: kplus.Protocol.TCP }],
      });
      for (const [k, v] of Object.entries(selectorLabels(name))) s.selectLabel(k, v);
    };
    service('service', API_SERVICE, kplus.ServiceType.CLUSTER_IP, API_SERVICE_PORT);
    service('lan-service', API_LAN_SERVICE, kplus.ServiceType.LOAD_BALANCER, a.lanPort);

    const egress: Flow[] = [
      { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('redis') }], ports: [REDIS_PORT] },
      { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('gitea') }], ports: [GITEA_HTTP_PORT] },
      // The apiServer peer brings its own ports (kubernetes Service 443, node apiServerPort).
      ...(this.kubernetesAccess ? [{ peers: [{ apiServer: true as const }], ports: [] }] : []),
    ];
    allowTraffic(this, 'network-policy', {
      config: c,
      name,
      namespace,
      pods: selectorLabels(name),
      ingress: [{ peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('gitea') }, { lan: true }], ports: [a.port] }],
      egress,
    });
  }
}
