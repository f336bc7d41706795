/**
 * Redis: the job queue (configs layer, namespace `namespaces.infrastructure`).
 *
 * One StatefulSet replica of the official image on a retained 10 GiB claim (`redis-data`), reached through
 * the `redis` Service. Its ConfigMap `redis-config` holds everything the pod runs, so the queue's whole
 * behaviour is readable in git:
 *
 *   redis.conf        persistence, memory cap, aclfile (redis-conf.ts)
 *   build-acl.sh      init container: redis-users Secret → hashed ACL file in a memory emptyDir (acl.ts)
 *   init-streams.sh   postStart hook: every pool's stream and consumer group, idempotently (streams.ts)
 *
 * A hash of that ConfigMap is on the pod template, so any change rolls the pod. The Secret is mounted in
 * the init container only; rotating a password takes a pod restart.
 */
import { createHash } from 'node:crypto';
import { ConfigMap, Handler, LabelSelector, Pods, Probe, Secret, Service, ServiceAccount, StatefulSet, Volume, EmptyDirMedium, FsGroupChangePolicy, ImagePullPolicy } from 'cdk8s-plus-28';
import { Duration, Size } from 'cdk8s';
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels } from '../labels.js';
import { REDIS_PORT, REDIS_SERVICE } from '../endpoints.js';
import { secretKeyRef, secretName } from '../secrets/catalog.js';
import { allowTraffic } from '../network/policy.js';
import { RetainedClaim } from '../storage/retained-claim.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { containerResources, finishWorkload, podRequests, requestsOf, restrictedContainer, type Requests } from '../storage/hardened-workload.js';
import { KEDA_OPERATOR_PODS } from '../keda/keda.js';
import { REDIS_APP, REDIS_POD_LABELS } from './labels.js';
import { REDIS_RUN_DIR, REDIS_USERS, REDIS_USERS_DIR, REDIS_USERS_SECRET, aclScript } from './acl.js';
import { REDIS_DATA_DIR, redisConf, redisMaxmemory } from './redis-conf.js';
import { streamInitScript } from './streams.js';

/** Name of the ConfigMap with redis.conf and the two scripts. */
export const REDIS_CONFIG_MAP = 'redis-config';
/** Name of the data claim. */
export const REDIS_DATA_CLAIM = 'redis-data';
/** Where the ConfigMap is mounted. */
export const REDIS_CONFIG_DIR = '/etc/redis';
/** Pod-template annotation carrying the hash of the ConfigMap. */
export const CONFIG_HASH_ANNOTATION = 'raibid-ci/config-hash';

/** Requests of the ACL init container (a shell script). */
const INIT_RESOURCES = { cpu: '10m', memory: '16Mi', memoryLimit: '64Mi' };

/** UID and GID the official image runs redis as: 999 everywhere; group 1000 on Alpine (999 is taken there). */
export function redisIds(image: string): { uid: number; gid: number } {
  return { uid: 999, gid: /alpine/.test(image) ? 1000 : 999 };
}

/** Oldest Redis accepted (checked with the config, src/config/contradictions.ts, as is maxmemory ≤ the memory request). */
export { REDIS_MIN_VERSION } from '../versions.js';

export class Redis extends ComponentChart {
  /** The ConfigMap data: redis.conf, build-acl.sh, init-streams.sh. */
  readonly files: Readonly<Record<string, string>>;
  /** maxmemory in bytes. */
  readonly maxmemory: number;
  /** Requests of the Redis pod. */
  readonly requests: Requests;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'configs', bootstrap: false });
    const c = props.config;
    const r = c.redis;
    this.maxmemory = redisMaxmemory(c);
    this.files = { 'redis.conf': redisConf(c), 'build-acl.sh': aclScript(c), 'init-streams.sh': streamInitScript(c) };
    this.requests = podRequests([requestsOf(r.resources)], [requestsOf(INIT_RESOURCES)]);
    const namespace = c.namespaces.infrastructure;
    const labels = componentLabels(REDIS_APP, 'queue');
    const { uid, gid } = redisIds(r.image);
    // Every password the ACL script reads must be a catalogued key of redis-users (throws otherwise).
    for (const u of REDIS_USERS) if (u.secretKey) secretKeyRef(REDIS_USERS_SECRET, u.secretKey);

    const config = new ConfigMap(this, 'config', { metadata: { name: REDIS_CONFIG_MAP, namespace, labels }, data: { ...this.files } });
    const claim = new RetainedClaim(this, 'data', { config: c, name: REDIS_DATA_CLAIM, namespace, size: r.storage, sizeKey: 'redis.storage', labels });
    const account = new ServiceAccount(this, 'account', { metadata: { name: REDIS_APP, namespace, labels }, automountToken: false });
    const service = new Service(this, 'service', {
      metadata: { name: REDIS_SERVICE, namespace, labels },
      selector: Pods.select(this, 'pods', { labels: { ...REDIS_POD_LABELS } }),
      ports: [{ name: 'redis', port: REDIS_PORT, targetPort: REDIS_PORT }],
    });

    const configVolume = Volume.fromConfigMap(this, 'config-volume', config, { name: 'config', defaultMode: 0o444 });
    const runVolume = Volume.fromEmptyDir(this, 'run-volume', 'run', { medium: EmptyDirMedium.MEMORY, sizeLimit: Size.mebibytes(1) });
    const usersVolume = Volume.fromSecret(this, 'users-volume', Secret.fromSecretName(this, 'users', secretName(REDIS_USERS_SECRET)), { name: 'users', defaultMode: 0o440 });
    const dataVolume = Volume.fromPersistentVolumeClaim(this, 'data-volume', claim, { name: 'data' });
    const security = restrictedContainer(uid, gid);
    const tcp = (period: number, failures: number) => Probe.fromTcpSocket({ port: REDIS_PORT, periodSeconds: Duration.seconds(period), failureThreshold: failures, timeoutSeconds: Duration.seconds(3) });

    const statefulSet = new StatefulSet(this, 'statefulset', {
      metadata: { name: REDIS_APP, namespace, labels },
      select: false,
      service,
      replicas: 1,
      podMetadata: { labels: { ...labels, ...REDIS_POD_LABELS }, annotations: { [CONFIG_HASH_ANNOTATION]: createHash('sha256').update(JSON.stringify(this.files)).digest('hex').slice(0, 16) } },
      serviceAccount: account,
      automountServiceAccountToken: false,
      securityContext: { user: uid, group: gid, fsGroup: gid, fsGroupChangePolicy: FsGroupChangePolicy.ON_ROOT_MISMATCH, ensureNonRoot: true },
      // Redis saves on SIGTERM; give it time to finish the AOF and RDB.
      terminationGracePeriod: Duration.seconds(60),
      initContainers: [
        {
          name: 'build-acl',
          image: r.image,
          imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
          command: ['sh', `${REDIS_CONFIG_DIR}/build-acl.sh`],
          resources: containerResources(INIT_RESOURCES, 'redis (build-acl init container)'),
          securityContext: security,
          volumeMounts: [
            { volume: configVolume, path: REDIS_CONFIG_DIR, readOnly: true },
            { volume: usersVolume, path: REDIS_USERS_DIR, readOnly: true },
            { volume: runVolume, path: REDIS_RUN_DIR },
          ],
        },
      ],
      containers: [
        {
          name: 'redis',
          image: r.image,
          imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
          command: ['redis-server', `${REDIS_CONFIG_DIR}/redis.conf`],
          ports: [{ name: 'redis', number: REDIS_PORT }],
          resources: containerResources(r.resources, 'redis.resources'),
          securityContext: security,
          lifecycle: { postStart: Handler.fromCommand(['sh', `${REDIS_CONFIG_DIR}/init-streams.sh`]) },
          // Loading a large AOF can take a while: allow 5 minutes before liveness counts.
          startup: tcp(5, 60),
          liveness: tcp(10, 6),
          readiness: tcp(5, 2),
          volumeMounts: [
            { volume: configVolume, path: REDIS_CONFIG_DIR, readOnly: true },
            { volume: runVolume, path: REDIS_RUN_DIR, readOnly: true },
            { volume: dataVolume, path: REDIS_DATA_DIR },
          ],
        },
      ],
    });
    statefulSet.select(LabelSelector.of({ labels: { ...REDIS_POD_LABELS } }));
    finishWorkload(statefulSet, { priorityClassName: PLATFORM_PRIORITY_CLASS, governingService: service });

    allowTraffic(this, 'policy', {
      config: c,
      name: REDIS_APP,
      namespace,
      pods: REDIS_POD_LABELS,
      ingress: [
        {
          peers: [
            // The API produces and the agents consume; both live in the ci namespace.
            { namespace: c.namespaces.ci },
            // KEDA's scalers run in the operator pod.
            { namespace: c.namespaces.keda, pods: KEDA_OPERATOR_PODS },
          ],
          ports: [REDIS_PORT],
        },
      ],
    });
  }
}
