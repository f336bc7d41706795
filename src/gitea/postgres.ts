/**
 * PostgreSQL for Gitea: one StatefulSet replica of the official image (never Bitnami) on its own retained
 * claim `gitea-postgres-data`, reached through the `gitea-postgres` Service by Gitea's pods only.
 *
 * - The claim is mounted at /var/lib/postgresql: PostgreSQL 18 images keep PGDATA in
 *   /var/lib/postgresql/18/docker and 17 and older in /var/lib/postgresql/data, both inside it.
 * - The password comes from the `gitea-postgres` Secret as a file (`POSTGRES_PASSWORD_FILE`); the image
 *   reads it only when it initialises an empty volume, so rotating it later also needs `ALTER ROLE`.
 * - Read-only root filesystem: the socket dir and /tmp are emptyDirs.
 * @see https://hub.docker.com/_/postgres
 */
import { Duration } from 'cdk8s';
import { EnvValue, FsGroupChangePolicy, ImagePullPolicy, LabelSelector, Pods, Probe, Secret, Service, ServiceAccount, StatefulSet, Volume } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { RaibidConfig } from '../config/resolve.js';
import { POSTGRES_PORT, POSTGRES_SERVICE } from '../endpoints.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { secretName } from '../secrets/catalog.js';
import { allowTraffic } from '../network/policy.js';
import { RetainedClaim } from '../storage/retained-claim.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { containerResources, finishWorkload, podRequests, requestsOf, restrictedContainer, type Requests } from '../storage/hardened-workload.js';
import { GITEA_DB_NAME, GITEA_DB_USER } from './gitea-settings.js';

/** Name of the PostgreSQL data claim. */
export const POSTGRES_DATA_CLAIM = 'gitea-postgres-data';
/** Labels PostgreSQL pods are selected by. */
export const POSTGRES_POD_LABELS: Readonly<Record<string, string>> = selectorLabels(POSTGRES_SERVICE);
/** Where the gitea-postgres Secret is mounted in the PostgreSQL pod. */
const SECRET_DIR = '/etc/gitea-postgres';

/** UID/GID the official image's `postgres` user has: 70 on Alpine, 999 on Debian. */
export function postgresIds(image: string): { uid: number; gid: number } {
  return /alpine/.test(image) ? { uid: 70, gid: 70 } : { uid: 999, gid: 999 };
}

export interface GiteaPostgresProps {
  readonly config: RaibidConfig;
  /** Labels of the pods allowed to connect (Gitea's). */
  readonly clientPods: Readonly<Record<string, string>>;
}

/** PostgreSQL StatefulSet, Service, claim, ServiceAccount and NetworkPolicy. */
export class GiteaPostgres extends Construct {
  /** Requests of the PostgreSQL pod. */
  readonly requests: Requests;

  constructor(scope: Construct, id: string, props: GiteaPostgresProps) {
    super(scope, id);
    const c = props.config;
    const p = c.gitea.postgres;
    const namespace = c.namespaces.infrastructure;
    const labels = componentLabels(POSTGRES_SERVICE, 'database');
    const { uid, gid } = postgresIds(p.image);
    this.requests = podRequests([requestsOf(p.resources)]);

    const claim = new RetainedClaim(this, 'data', { config: c, name: POSTGRES_DATA_CLAIM, namespace, size: p.storage, sizeKey: 'gitea.postgres.storage', labels });
    const account = new ServiceAccount(this, 'account', { metadata: { name: POSTGRES_SERVICE, namespace, labels }, automountToken: false });
    const service = new Service(this, 'service', {
      metadata: { name: POSTGRES_SERVICE, namespace, labels },
      selector: Pods.select(this, 'pods', { labels: { ...POSTGRES_POD_LABELS } }),
      ports: [{ name: 'postgres', port: POSTGRES_PORT, targetPort: POSTGRES_PORT }],
    });
    const ready = ['pg_isready', '-q', '-h', '127.0.0.1', '-p', String(POSTGRES_PORT), '-U', GITEA_DB_USER, '-d', GITEA_DB_NAME];

    const statefulSet = new StatefulSet(this, 'statefulset', {
      metadata: { name: POSTGRES_SERVICE, namespace, labels },
      select: false,
      service,
      replicas: 1,
      podMetadata: { labels: { ...labels, ...POSTGRES_POD_LABELS } },
      serviceAccount: account,
      automountServiceAccountToken: false,
      securityContext: { user: uid, group: gid, fsGroup: gid, fsGroupChangePolicy: FsGroupChangePolicy.ON_ROOT_MISMATCH, ensureNonRoot: true },
      // A clean shutdown (smart → fast) avoids crash recovery at the next start.
      terminationGracePeriod: Duration.seconds(60),
      containers: [
        {
          name: 'postgres',
          image: p.image,
          imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ name: 'postgres', number: POSTGRES_PORT }],
          envVariables: {
            POSTGRES_USER: EnvValue.fromValue(GITEA_DB_USER),
            POSTGRES_DB: EnvValue.fromValue(GITEA_DB_NAME),
            POSTGRES_PASSWORD_FILE: EnvValue.fromValue(`${SECRET_DIR}/password`),
          },
          resources: containerResources(p.resources, 'gitea.postgres.resources'),
          securityContext: restrictedContainer(uid, gid),
          // initdb on a fresh volume, or crash recovery, may take minutes.
          startup: Probe.fromCommand(ready, { periodSeconds: Duration.seconds(5), failureThreshold: 60 }),
          readiness: Probe.fromCommand(ready, { periodSeconds: Duration.seconds(10), failureThreshold: 3, timeoutSeconds: Duration.seconds(5) }),
          liveness: Probe.fromTcpSocket({ port: POSTGRES_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 6, timeoutSeconds: Duration.seconds(5) }),
          volumeMounts: [
            { volume: Volume.fromPersistentVolumeClaim(this, 'data-volume', claim, { name: 'data' }), path: '/var/lib/postgresql' },
            { volume: Volume.fromEmptyDir(this, 'socket-volume', 'socket'), path: '/var/run/postgresql' },
            { volume: Volume.fromEmptyDir(this, 'tmp-volume', 'tmp'), path: '/tmp' },
            { volume: Volume.fromSecret(this, 'secret-volume', Secret.fromSecretName(this, 'secret', secretName('gitea-postgres')), { name: 'secret', defaultMode: 0o440 }), path: SECRET_DIR, readOnly: true },
          ],
        },
      ],
    });
    statefulSet.select(LabelSelector.of({ labels: { ...POSTGRES_POD_LABELS } }));
    finishWorkload(statefulSet, { priorityClassName: PLATFORM_PRIORITY_CLASS, governingService: service });

    allowTraffic(this, 'policy', {
      config: c,
      name: POSTGRES_SERVICE,
      namespace,
      pods: POSTGRES_POD_LABELS,
      ingress: [{ peers: [{ namespace, pods: props.clientPods }], ports: [POSTGRES_PORT] }],
    });
  }
}
