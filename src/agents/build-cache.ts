/**
 * A pool's build caches: one volume for CARGO_HOME (registry index, crate sources, git checkouts) and
 * one for sccache, shared by every agent of the pool (local-path volumes live on the one node, so
 * ReadWriteOnce still lets all agents mount them), and a CronJob that deletes entries nobody has
 * read for `agents.cacheMaxAge`.
 * @see https://doc.rust-lang.org/cargo/guide/cargo-home.html
 */
import { Cron, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { AgentPoolConfig, RaibidConfig } from '../config/resolve.js';
import { bytes, durationSeconds } from '../config/quantity.js';
import { componentLabels } from '../labels.js';
import { AGENT_UID, CARGO_HOME, SCCACHE_DIR } from './agent-pod.js';

/** Flux never deletes these claims: a renamed pool must not throw away 50 GiB of warm cache. */
const PRUNE_ANNOTATION = { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' };

/** ServiceAccount of the cache pruners (no API token). */
export const CACHE_PRUNER_SERVICE_ACCOUNT = 'raibid-cache-pruner';

export interface BuildCacheProps {
  readonly config: RaibidConfig;
  readonly pool: AgentPoolConfig;
  /** Config path of the pool, for error messages, e.g. `agents.pools[0]`. */
  readonly path: string;
  /**
   * CPU and memory of the pruner container.
   * @default { cpu: '50m', memory: '32Mi', memoryLimit: '128Mi' }
   */
  readonly pruneResources?: { readonly cpuMillis: number; readonly memoryMebibytes: number; readonly memoryLimitMebibytes: number };
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

/** The pruner's shell script: delete files not read for N minutes, then empty directories. */
export function pruneScript(maxAgeMinutes: number, dirs: readonly string[]): string {
  return dirs
    .map((d) => `find ${d} -mindepth 1 -type f -amin +${maxAgeMinutes} -delete && find ${d} -mindepth 1 -type d -empty -delete`)
    .concat(['echo "pruned entries unused for more than ' + maxAgeMinutes + ' minutes"'])
    .join('\n');
}

/** Cache volumes and their pruner for one pool. */
export class BuildCache extends Construct {
  /** Claim names, mounted by every agent of the pool. */
  readonly claims: { readonly cargo: string; readonly sccache: string };
  readonly cargoGibibytes: number;
  readonly sccacheGibibytes: number;
  /** Minutes an entry may go unread before the pruner deletes it. */
  readonly maxAgeMinutes: number;
  readonly pruneResources: NonNullable<BuildCacheProps['pruneResources']>;

  constructor(scope: Construct, id: string, props: BuildCacheProps) {
    super(scope, id);
    const { config: c, pool: p } = props;
    this.cargoGibibytes = gibibytes(p.cache.cargo, `${props.path}.cache.cargo`);
    this.sccacheGibibytes = gibibytes(p.cache.sccache, `${props.path}.cache.sccache`);
    this.maxAgeMinutes = Math.max(1, Math.floor(durationSeconds(c.agents.cacheMaxAge) / 60));
    this.pruneResources = props.pruneResources ?? { cpuMillis: 50, memoryMebibytes: 32, memoryLimitMebibytes: 128 };
    this.claims = { cargo: `agent-${p.name}-cargo`, sccache: `agent-${p.name}-sccache` };
    const namespace = c.namespaces.ci;
    const labels = componentLabels(`agent-${p.name}-cache`, 'build-cache');

    const claim = (cid: string, name: string, size: number) =>
      new kplus.PersistentVolumeClaim(this, cid, {
        metadata: { name, namespace, labels, annotations: PRUNE_ANNOTATION },
        storageClassName: c.storage.cacheClass,
        accessModes: [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        volumeMode: kplus.PersistentVolumeMode.FILE_SYSTEM,
        storage: Size.gibibytes(size),
      });
    const cargo = claim('cargo', this.claims.cargo, this.cargoGibibytes);
    const sccache = claim('sccache', this.claims.sccache, this.sccacheGibibytes);

    const r = this.pruneResources;
    new kplus.CronJob(this, 'prune', {
      metadata: { name: `agent-${p.name}-cache-prune`, namespace, labels },
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
          command: ['sh', '-c', pruneScript(this.maxAgeMinutes, [CARGO_HOME, SCCACHE_DIR])],
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
          volumeMounts: [
            { path: CARGO_HOME, volume: kplus.Volume.fromPersistentVolumeClaim(this, 'cargo-volume', cargo, { name: 'cargo' }) },
            { path: SCCACHE_DIR, volume: kplus.Volume.fromPersistentVolumeClaim(this, 'sccache-volume', sccache, { name: 'sccache' }) },
          ],
        },
      ],
    });
  }
}
