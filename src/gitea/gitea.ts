/**
 * Gitea with its OCI registry, and PostgreSQL for it (configs layer, namespace `namespaces.infrastructure`;
 * bootstrap applies it before Flux, which pulls this repository from it).
 *
 * - Gitea: one replica of the official rootless image (`gitea.image`, UID 1000), `Recreate` updates (the
 *   data claim is ReadWriteOnce), configured through `GITEA__section__KEY` variables (gitea-settings.ts):
 *   install locked, registration off, sign-in required to view, packages (the container registry) on,
 *   webhooks only to the API's in-cluster host, secrets read from the mounted `gitea-secrets` Secret.
 * - Writable paths on a read-only root: /var/lib/gitea (retained claim `gitea-data`, `gitea.storage`),
 *   /etc/gitea (emptyDir: the entrypoint rewrites app.ini at every start), /tmp (emptyDir).
 * - The `configure` init container migrates the schema and creates the admin with a throwaway random
 *   password (admin-script.ts): the Gitea CLI takes a password only as an argument, so bootstrap sets the
 *   real one through the API, and the pod mounts only the `username` key of the gitea-admin Secret.
 * - Pods of Gitea and PostgreSQL carry the platform PriorityClass (src/scheduling/priority-classes.ts):
 *   under node memory pressure the kubelet evicts agents first.
 * - Services: `gitea-http` (ClusterIP, 3000) and `gitea-ssh` (ClusterIP, 2222) in the cluster; `gitea`
 *   (LoadBalancer, k3s ServiceLB) for the LAN on 80 → 3000 and 2222 → 2222. ServiceLB binds these as host
 *   ports on the node, so SSH is on 2222 and never collides with the node's own sshd on 22. CoreDNS
 *   (dns.ts) points `gitea.<domain>` at the `gitea` Service, so ROOT_URL works from pods as from the LAN.
 */
import { Duration } from 'cdk8s';
import { Deployment, DeploymentStrategy, EnvValue, FsGroupChangePolicy, ImagePullPolicy, LabelSelector, Pods, Probe, Secret, Service, ServiceAccount, ServiceType, Volume } from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';
import { API_SERVICE, POSTGRES_PORT, GITEA_HTTP_PORT, GITEA_HTTP_SERVICE, GITEA_LAN_HTTP_PORT, GITEA_LAN_SERVICE, GITEA_LAN_SSH_PORT, GITEA_SSH_PORT, GITEA_SSH_SERVICE } from '../endpoints.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { secretName } from '../secrets/catalog.js';
import { allowTraffic, type IngressPeer } from '../network/policy.js';
import { RetainedClaim } from '../storage/retained-claim.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { IMAGE_BUILD_APP } from '../images/catalog.js';
import { containerResources, finishWorkload, podRequests, requestsOf, restrictedContainer, sumRequests, type Requests } from '../storage/hardened-workload.js';
import { GITEA_ADMIN_SECRET_DIR, adminScript } from './admin-script.js';
import { GITEA_CONFIG_DIR, GITEA_DB_SECRET_DIR, GITEA_SECRETS_DIR, GITEA_WORK_DIR, giteaEnv } from './gitea-settings.js';
import { GiteaPostgres, POSTGRES_POD_LABELS } from './postgres.js';

/** Name of the Gitea workload (its `app.kubernetes.io/name`). */
export const GITEA_APP = 'gitea';
/** The server container of the Gitea pod (bootstrap runs the Gitea CLI in it with `kubectl exec`). */
export const GITEA_CONTAINER = 'gitea';
/** Labels Gitea pods are selected by. */
export const GITEA_POD_LABELS: Readonly<Record<string, string>> = selectorLabels(GITEA_APP);
/** Name of the Gitea data claim. */
export const GITEA_DATA_CLAIM = 'gitea-data';
/** Ports of the LAN LoadBalancer (host ports on the node). */
export { GITEA_LAN_HTTP_PORT, GITEA_LAN_SSH_PORT };
/** UID/GID of the rootless image's `git` user. */
export const GITEA_UID = 1000;
/** Label of Flux's source-controller pods, which clone the GitOps repository. */
export const FLUX_SOURCE_CONTROLLER_PODS = { app: 'source-controller' } as const;

export class Gitea extends ComponentChart {
  /** Requests of the Gitea and PostgreSQL pods together. */
  readonly requests: Requests;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'configs', bootstrap: true });
    const c = props.config;
    const g = c.gitea;
    const namespace = c.namespaces.infrastructure;
    // gitea.registry.tls and the node ports (api.lanPort against Gitea's) are checked with the config
    // (src/config/contradictions.ts).

    const labels = componentLabels(GITEA_APP, 'git-server');
    const claim = new RetainedClaim(this, 'data', { config: c, name: GITEA_DATA_CLAIM, namespace, size: g.storage, sizeKey: 'gitea.storage', labels });
    const account = new ServiceAccount(this, 'account', { metadata: { name: GITEA_APP, namespace, labels }, automountToken: false });

    const secretVolume = (vid: string, name: string, secret: string) =>
      Volume.fromSecret(this, vid, Secret.fromSecretName(this, `${vid}-ref`, secretName(secret)), { name, defaultMode: 0o440 });
    const data = Volume.fromPersistentVolumeClaim(this, 'data-volume', claim, { name: 'data' });
    const appIni = Volume.fromEmptyDir(this, 'config-volume', 'config');
    const tmp = Volume.fromEmptyDir(this, 'tmp-volume', 'tmp');
    const secrets = secretVolume('secrets-volume', 'secrets', 'gitea-secrets');
    const database = secretVolume('db-volume', 'database', 'gitea-postgres');
    // Only the username: the admin's password is set by bootstrap through the API (admin-script.ts).
    const admin = Volume.fromSecret(this, 'admin-volume', Secret.fromSecretName(this, 'admin-volume-ref', secretName('gitea-admin')), {
      name: 'admin',
      defaultMode: 0o440,
      items: { username: { path: 'username' } },
    });
    const mounts = [
      { volume: data, path: GITEA_WORK_DIR },
      { volume: appIni, path: GITEA_CONFIG_DIR },
      { volume: tmp, path: '/tmp' },
      { volume: secrets, path: GITEA_SECRETS_DIR, readOnly: true },
      { volume: database, path: GITEA_DB_SECRET_DIR, readOnly: true },
    ];
    const envVariables = Object.fromEntries(giteaEnv(c).map((e) => [e.name, EnvValue.fromValue(e.value)]));
    const resources = containerResources(g.resources, 'gitea.resources');
    const security = restrictedContainer(GITEA_UID, GITEA_UID);

    const deployment = new Deployment(this, 'deployment', {
      metadata: { name: GITEA_APP, namespace, labels },
      select: false,
      replicas: 1,
      // ReadWriteOnce data: the old pod must be gone before the new one mounts the claim.
      strategy: DeploymentStrategy.recreate(),
      podMetadata: { labels: { ...labels, ...GITEA_POD_LABELS } },
      serviceAccount: account,
      automountServiceAccountToken: false,
      // The data volume can hold 100 GiB of repositories: never chown it recursively at start.
      securityContext: { user: GITEA_UID, group: GITEA_UID, fsGroup: GITEA_UID, fsGroupChangePolicy: FsGroupChangePolicy.ON_ROOT_MISMATCH, ensureNonRoot: true },
      initContainers: [
        {
          name: 'configure',
          image: g.image,
          imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
          // The image's entrypoint renders app.ini first, then runs these arguments.
          args: ['/bin/sh', '-c', adminScript()],
          envVariables: { ...envVariables, GITEA_ADMIN_EMAIL: EnvValue.fromValue(g.admin.email) },
          resources,
          securityContext: security,
          volumeMounts: [...mounts, { volume: admin, path: GITEA_ADMIN_SECRET_DIR, readOnly: true }],
        },
      ],
      containers: [
        {
          name: GITEA_CONTAINER,
          image: g.image,
          imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
          ports: [
            { name: 'http', number: GITEA_HTTP_PORT },
            { name: 'ssh', number: GITEA_SSH_PORT },
          ],
          envVariables,
          resources,
          securityContext: security,
          startup: Probe.fromTcpSocket({ port: GITEA_HTTP_PORT, periodSeconds: Duration.seconds(5), failureThreshold: 60 }),
          // /api/healthz checks the database and cache too: right for readiness, too eager for liveness.
          readiness: Probe.fromHttpGet('/api/healthz', { port: GITEA_HTTP_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 3, timeoutSeconds: Duration.seconds(5) }),
          liveness: Probe.fromTcpSocket({ port: GITEA_HTTP_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 6, timeoutSeconds: Duration.seconds(5) }),
          volumeMounts: mounts,
        },
      ],
    });
    deployment.select(LabelSelector.of({ labels: { ...GITEA_POD_LABELS } }));
    finishWorkload(deployment, { priorityClassName: PLATFORM_PRIORITY_CLASS });

    const service = (sid: string, name: string, type: ServiceType, ports: { name: string; port: number; targetPort: number }[]) =>
      new Service(this, sid, { metadata: { name, namespace, labels }, type, selector: Pods.select(this, `${sid}-pods`, { labels: { ...GITEA_POD_LABELS } }), ports });
    service('http-service', GITEA_HTTP_SERVICE, ServiceType.CLUSTER_IP, [{ name: 'http', port: GITEA_HTTP_PORT, targetPort: GITEA_HTTP_PORT }]);
    service('ssh-service', GITEA_SSH_SERVICE, ServiceType.CLUSTER_IP, [{ name: 'ssh', port: GITEA_SSH_PORT, targetPort: GITEA_SSH_PORT }]);
    service('lan-service', GITEA_LAN_SERVICE, ServiceType.LOAD_BALANCER, [
      { name: 'http', port: GITEA_LAN_HTTP_PORT, targetPort: GITEA_HTTP_PORT },
      { name: 'ssh', port: GITEA_LAN_SSH_PORT, targetPort: GITEA_SSH_PORT },
    ]);

    const postgres = new GiteaPostgres(this, 'postgres', { config: c, clientPods: GITEA_POD_LABELS });
    this.requests = sumRequests(podRequests([requestsOf(g.resources)], [requestsOf(g.resources)]), postgres.requests);

    const inCluster: IngressPeer[] = [
      // Agents clone and push images, the API reads repositories: both in the ci namespace.
      { namespace: c.namespaces.ci },
      { namespace: 'flux-system', pods: FLUX_SOURCE_CONTROLLER_PODS },
      ...(c.buildkit.enabled ? [{ namespace: c.namespaces.buildkit }] : []),
      // The image build Jobs read their inputs from the GitOps repository and look up their tag.
      ...(c.images.built.length ? [{ namespace: c.namespaces.images, pods: selectorLabels(IMAGE_BUILD_APP) }] : []),
    ];
    // Agents clone over SSH too (the ssh_url of a repository, in-cluster through gitea-ssh).
    const sshClients: IngressPeer[] = [{ namespace: c.namespaces.ci }];
    allowTraffic(this, 'policy', {
      config: c,
      name: GITEA_APP,
      namespace,
      pods: GITEA_POD_LABELS,
      ingress: [
        { peers: [{ lan: true }], ports: [GITEA_HTTP_PORT, GITEA_SSH_PORT] },
        { peers: inCluster, ports: [GITEA_HTTP_PORT] },
        { peers: sshClients, ports: [GITEA_SSH_PORT] },
      ],
      egress: [
        { peers: [{ namespace, pods: POSTGRES_POD_LABELS }], ports: [POSTGRES_PORT] },
        // Webhooks to the API (the Service's target port).
        { peers: [{ namespace: c.namespaces.ci, pods: selectorLabels(API_SERVICE) }], ports: [c.api.port] },
        // Repository mirroring.
        { peers: [{ internet: true }], ports: [443] },
      ],
    });
  }
}
