/**
 * Build caches: per pool, one volume for CARGO_HOME (registry index, crate sources, git checkouts)
 * and one for sccache, shared by every agent of the pool (local-path volumes live on the one node,
 * so ReadWriteOnce still lets all agents mount them); and one CronJob that deletes, in every pool's
 * caches, the entries nobody has read for `agents.cacheMaxAge` (atime; k3s's local-path volumes
 * inherit the host's relatime, which keeps atime within a day).
 * @see https://doc.rust-lang.org/cargo/guide/cargo-home.html
 */
import { ApiObject, Cron, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { AgentPoolConfig, RaibidConfig } from '../config/resolve.js';
import { bytes, durationSeconds } from '../config/quantity.js';
import { componentLabels } from '../labels.js';
import { AGENT_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { AGENT_UID } from './agent-pod.js';

/** Flux never deletes these claims: a renamed pool must not throw away 50 GiB of warm cache. */
const PRUNE_ANNOTATION = { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' };

/** ServiceAccount of the cache pruners (no API token). */
export const CACHE_PRUNER_SERVICE_ACCOUNT = 'raibid-cache-pruner';

export interface BuildCacheProps {
  readonly config: RaibidConfig;
  readonly pool: AgentPoolConfig;
  /** Config path of the pool, for error messages, e.g. `agents.pools[0]`. */
  readonly path: string;
}

/** Whole GiB in a size, or an error naming the key. */
function gibibytes(q: string, key: string): number {
  const n = bytes(q) / 2 ** 30;
  if (!Number.isInteger(n) || n < 1) throw new Error(`'${key}' (${JSON.stringify(q)}) must be a whole number of GiB, at least 1, such as "20Gi"`);
  return n;
}

/** `0 3 * * *` → cdk8s Cron. */
function cron(schedule: string): Cron {
  const [minute, hour, day, month, weekDay] = schedule.trim().split(/\s+/);
  return Cron.schedule({ minute, hour, day, month, weekDay });
}

/**
 * The pruner's shell script. For each cache folder: delete files not read for N minutes, then folders
 * that are empty and older than N minutes (a build may have just created one). Only `find -exec` is
 * used, which every busybox build has (`-delete` is optional there). A file a running build deletes
 * first is no error; a folder that cannot be pruned is reported and fails the Job at the end, after the
 * other pools' caches were pruned.
 */
export function pruneScript(maxAgeMinutes: number, dirs: readonly string[]): string {
  return [
    'set -u',
    'status=0',
    'prune() {',
    `  find "$1" -mindepth 1 -type f -amin +${maxAgeMinutes} -exec rm -f {} + || { echo "prune: could not prune every file in $1" >&2; status=1; }`,
    `  find "$1" -mindepth 1 -depth -type d -empty -mmin +${maxAgeMinutes} -exec rmdir {} + 2>/dev/null || true`,
    '}',
    ...dirs.map((d) => `prune ${d}`),
    `echo "pruned cache entries unused for more than ${maxAgeMinutes} minutes"`,
    'exit "$status"',
  ].join('\n');
}

/** The two cache volumes of one pool. */
export class BuildCache extends Construct {
  /** Claim names, mounted by every agent of the pool. */
  readonly claims: { readonly cargo: string; readonly sccache: string };
  readonly cargoGibibytes: number;
  readonly sccacheGibibytes: number;
  /** The claims as constructs (for the pruner's volumes). */
  readonly cargo: kplus.PersistentVolumeClaim;
  readonly sccache: kplus.PersistentVolumeClaim;
  readonly pool: string;

  constructor(scope: Construct, id: string, props: BuildCacheProps) {
    super(scope, id);
    const { config: c, pool: p } = props;
    this.pool = p.name;
    this.cargoGibibytes = gibibytes(p.cache.cargo, `${props.path}.cache.cargo`);
    this.sccacheGibibytes = gibibytes(p.cache.sccache, `${props.path}.cache.sccache`);
    this.claims = { cargo: `agent-${p.name}-cargo`, sccache: `agent-${p.name}-sccache` };
    const labels = componentLabels(`agent-${p.name}-cache`, 'build-cache');
    const claim = (cid: string, name: string, size: number) =>
      new kplus.PersistentVolumeClaim(this, cid, {
        metadata: { name, namespace: c.namespaces.ci, labels, annotations: PRUNE_ANNOTATION },
        storageClassName: c.storage.cacheClass,
        accessModes: [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        volumeMode: kplus.PersistentVolumeMode.FILE_SYSTEM,
        storage: Size.gibibytes(size),
      });
    this.cargo = claim('cargo', this.claims.cargo, this.cargoGibibytes);
    this.sccache = claim('sccache', this.claims.sccache, this.sccacheGibibytes);
  }
}

export interface CachePrunerProps {
  readonly config: RaibidConfig;
  /** The caches to prune: every pool's. */
  readonly caches: readonly BuildCache[];
  /**
   * CPU and memory of the pruner container.
   * @default { cpuMillis: 50, memoryMebibytes: 32, memoryLimitMebibytes: 128 }
   */
  readonly resources?: { readonly cpuMillis: number; readonly memoryMebibytes: number; readonly memoryLimitMebibytes: number };
}

/** Name of the pruner CronJob. */
export const CACHE_PRUNER = 'agent-cache-prune';

/**
 * One CronJob that prunes every pool's caches (mounted at /cache/<pool>/cargo and
 * /cache/<pool>/sccache): one small pod a night, however many pools there are.
 */
export class CachePruner extends Construct {
  /** Minutes an entry may go unread before it is deleted. */
  readonly maxAgeMinutes: number;
  readonly resources: NonNullable<CachePrunerProps['resources']>;
  /** Folders the pruner walks, in pool order. */
  readonly dirs: readonly string[];

  constructor(scope: Construct, id: string, props: CachePrunerProps) {
    super(scope, id);
    const c = props.config;
    this.maxAgeMinutes = Math.max(1, Math.floor(durationSeconds(c.agents.cacheMaxAge) / 60));
    this.resources = props.resources ?? { cpuMillis: 50, memoryMebibytes: 32, memoryLimitMebibytes: 128 };
    const mounts = props.caches.flatMap((cache) => [
      { path: `/cache/${cache.pool}/cargo`, volume: kplus.Volume.fromPersistentVolumeClaim(this, `${cache.pool}-cargo`, cache.cargo, { name: `${cache.pool}-cargo` }) },
      { path: `/cache/${cache.pool}/sccache`, volume: kplus.Volume.fromPersistentVolumeClaim(this, `${cache.pool}-sccache`, cache.sccache, { name: `${cache.pool}-sccache` }) },
    ]);
    this.dirs = mounts.map((m) => m.path);
    const labels = componentLabels(CACHE_PRUNER, 'build-cache');
    const r = this.resources;
    const cronJob = new kplus.CronJob(this, 'Resource', {
      metadata: { name: CACHE_PRUNER, namespace: c.namespaces.ci, labels },
      podMetadata: { labels },
      schedule: cron(c.agents.cachePruneSchedule),
      concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
      startingDeadline: Duration.hours(1),
      successfulJobsRetained: 1,
      failedJobsRetained: 3,
      backoffLimit: 1,
      activeDeadline: Duration.hours(2),
      serviceAccount: kplus.ServiceAccount.fromServiceAccountName(this, 'sa', CACHE_PRUNER_SERVICE_ACCOUNT),
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: AGENT_UID, group: AGENT_UID, fsGroup: AGENT_UID, fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH },
      containers: [
        {
          name: 'prune',
          image: c.agents.pruneImage,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          command: ['sh', '-c', pruneScript(this.maxAgeMinutes, this.dirs)],
          resources: {
            cpu: { request: kplus.Cpu.millis(r.cpuMillis) },
            memory: { request: Size.mebibytes(r.memoryMebibytes), limit: Size.mebibytes(r.memoryLimitMebibytes) },
          },
          securityContext: {
            ensureNonRoot: true,
            user: AGENT_UID,
            group: AGENT_UID,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: [kplus.Capability.ALL] },
            seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
          },
          volumeMounts: mounts,
        },
      ],
    });
    // cdk8s-plus-28 has no priorityClassName. Maintenance ranks with the agents: it waits for room and
    // is evicted before the platform.
    ApiObject.of(cronJob).addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/priorityClassName', AGENT_PRIORITY_CLASS));
  }
}
