/**
 * The pod every agent runs in, whatever its pool's mode: one builder, so the ScaledJob template, the
 * pooled Deployment and the direct Job template can never drift apart in security settings, env or
 * cache mounts.
 *
 * The agent image's contract: the image runs `raibid agent` (src/agents/runner/, bundled into the image),
 * configured by the environment set here, whose names, ports, paths and drain command live in
 * ./contract.ts, shared with the runner so a rename fails the type check:
 * - runs as UID/GID 1000 with a read-only root filesystem; writes only to /workspace, /tmp, $HOME and
 *   the cache mounts, and at most the pool's `workspace` to /workspace and AGENT_TMP_SIZE /
 *   AGENT_HOME_SIZE to the others: past a limit the kubelet evicts the pod and the build fails;
 * - reads jobs with XREADGROUP from REDIS_STREAM / REDIS_GROUP as consumer REDIS_CONSUMER (the pod
 *   name), heartbeats every third of RAIBID_HEARTBEAT_SECONDS so the API's reaper knows it is alive,
 *   ends a job itself after JOB_TIMEOUT_SECONDS (SIGTERM to the step's process group, SIGKILL after
 *   RAIBID_KILL_GRACE_SECONDS), and acknowledges an entry only after the job's final state and commit
 *   status are written;
 * - serves HTTP on AGENT_HEALTH_PORT (8081) from its first second;
 * - RAIBID_MODE=ephemeral|direct: one job, then exit 0.
 *   - `GET /claimed` answers 200 once XREADGROUP has handed the agent its entry (the entry is then
 *     this consumer's, off the group's lag), and keeps answering 200 until the agent exits; before
 *     that it answers 503. It is the pod's readiness probe, every CLAIM_PROBE_PERIOD_SECONDS: KEDA's
 *     `accurate` strategy counts a Job as pending until its pod is Ready, so a started agent that
 *     has not yet claimed its entry is not mistaken for one whose entry left the lag — without it
 *     the next poll still sees the lag and starts a second Job for the same entry.
 *   - An agent that finds no entry within RAIBID_IDLE_EXIT_SECONDS (XREADGROUP BLOCK) exits 0
 *     without claiming anything: a surplus Job (its entry went to another agent) frees its CPU and
 *     memory within that time and does not count as a failed build.
 *   - direct: the API names the job in RAIBID_JOB_ID; the agent takes over its entry (XCLAIM).
 *   - SIGTERM (eviction, deadline) stops the running step and exits without acknowledging: the
 *     API's reaper re-queues the job once the heartbeat lapses.
 * - RAIBID_MODE=pooled: MAX_CONCURRENT_JOBS jobs at a time, `/healthz` live, `/readyz` ready to take
 *   jobs, and `raibid agent drain` (the preStop hook; POST /drain) stops taking jobs and returns when
 *   the running ones have finished. SIGTERM drains too.
 * - the Job's activeDeadlineSeconds (oneShotDeadlineSeconds) leaves room beyond JOB_TIMEOUT_SECONDS
 *   for scheduling, the image pull, the idle wait and the kill grace, so the agent's own timeout always
 *   fires first and reports the result.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { AgentPoolConfig, RaibidConfig } from '../config/resolve.js';
import { bytes, cpuMillis, durationSeconds, formatBytes, formatCpu } from '../config/quantity.js';
import { buildkitAddress, giteaInternalUrl, redisInternalAddress } from '../endpoints.js';
import { componentLabels, PART_OF } from '../labels.js';
import { secretKeyRef } from '../secrets/catalog.js';
import { AGENT_POOL_LABEL } from './contract.js';
import { AGENT_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { AGENT_CLAIMED_PATH, AGENT_DRAIN_COMMAND, AGENT_ENV, DEFAULT_KILL_GRACE_SECONDS, AGENT_HEALTH_PORT, AGENT_HEALTHZ_PATH, AGENT_HOME, AGENT_READYZ_PATH, AGENT_UID, CARGO_HOME, DEFAULT_IDLE_EXIT_SECONDS, SCCACHE_DIR, WORKSPACE_DIR } from './contract.js';
import { apiPublicUrl } from '../endpoints.js';

export { AGENT_CLAIMED_PATH, AGENT_DRAIN_COMMAND, AGENT_HEALTH_PORT, AGENT_UID, CARGO_HOME, DEFAULT_IDLE_EXIT_SECONDS, SCCACHE_DIR } from './contract.js';
/** Seconds between claim probes: short, so KEDA's next poll (every pollingInterval) sees the claim. */
export const CLAIM_PROBE_PERIOD_SECONDS = 1;
/**
 * Share of the sccache volume sccache may fill (the rest is headroom). SCCACHE_CACHE_SIZE is the size
 * of the pool's one shared volume, not a per-agent share: every agent of the pool points its own
 * sccache server at the same SCCACHE_DIR.
 *
 * Concurrent sccache servers on one directory: sccache documents its local disk cache as meant for a
 * single server at a time (mozilla/sccache docs/Local.md). Each server keeps its own LRU index, built
 * by scanning the directory when it starts, and writes entries in place. With several agents at once:
 * - the directory can grow past SCCACHE_CACHE_SIZE by what the other servers added since this one
 *   started, until one of them evicts; the volume's headroom (1 − SCCACHE_FILL) absorbs short
 *   overshoots, and local-path volumes have no hard quota, so the rest lands on node disk;
 * - an entry another server is still writing, or has just evicted, mostly reads as a miss (sccache
 *   then compiles), but sccache warns that such races can also fail a compile outright.
 * raibid-ci accepts that rare, retryable failure for the shared warm cache. A pool that cannot can set
 * `maxReplicas: 1`, or its image can give each running agent a directory of its own under SCCACHE_DIR
 * (for instance the first free `slot-<n>`, held with flock) at the cost of splitting the cache.
 */
export const SCCACHE_FILL = 0.9;

/** Size limit of an agent's /tmp emptyDir. */
export const AGENT_TMP_SIZE = '1Gi';
/** Size limit of an agent's $HOME emptyDir (tool config and small state; the caches live elsewhere). */
export const AGENT_HOME_SIZE = '1Gi';
/**
 * Room for the container's logs in its ephemeral-storage limit: they count against it (the kubelet
 * keeps up to 5 × 10 MiB of them by default). Generous on purpose, so the pod-level limit never
 * fires before an emptyDir's own size limit names the culprit.
 */
export const AGENT_LOG_ALLOWANCE = '1Gi';

/**
 * Ephemeral storage of one agent pod, in bytes: its emptyDirs at their size limits (workspace, /tmp,
 * $HOME) plus the log allowance. The container requests and is limited to exactly this, so the
 * scheduler only places an agent where its whole scratch space fits, and the capacity plan counts it.
 */
export function agentEphemeralStorageBytes(pool: Pick<AgentPoolConfig, 'workspace'>): number {
  return bytes(pool.workspace) + bytes(AGENT_TMP_SIZE) + bytes(AGENT_HOME_SIZE) + bytes(AGENT_LOG_ALLOWANCE);
}

/** Labels of every agent pod and pool object. */
export function agentLabels(pool: string): Record<string, string> {
  return { ...componentLabels(`agent-${pool}`, 'agent'), [AGENT_POOL_LABEL]: pool };
}

/** The labels the `agents` NetworkPolicy selects every agent pod by. */
export function agentPolicySelector(): Record<string, string> {
  return { 'app.kubernetes.io/component': 'agent', 'app.kubernetes.io/part-of': PART_OF };
}

/** Name of the ServiceAccount all agent pods run as (bound to nothing: no API token). */
export const AGENT_SERVICE_ACCOUNT = 'raibid-agent';

/** What every pool construct (ephemeral, pooled, direct) is given. */
export interface PoolConstructProps {
  readonly config: RaibidConfig;
  readonly pool: AgentPoolConfig;
  /** Names of the pool's cache claims. */
  readonly cacheClaims: { readonly cargo: string; readonly sccache: string };
  /** The planned number of agent pods, read when the object is rendered (after the capacity plan). */
  readonly maxReplicas: () => number;
}

export interface AgentPodOptions {
  readonly config: RaibidConfig;
  readonly pool: AgentPoolConfig;
  /** PVC names of the pool's build caches. */
  readonly cacheClaims: { readonly cargo: string; readonly sccache: string };
  /** `Never` for Jobs, `Always` for pooled workers. */
  readonly restartPolicy: 'Never' | 'Always';
  /** Seconds the kubelet waits after SIGTERM (pooled: at least the build timeout). */
  readonly terminationGracePeriodSeconds: number;
  /** Pooled workers: liveness and readiness probes and a preStop drain. @default false - a one-shot agent with the claim probe */
  readonly worker?: boolean;
  /**
   * One-shot agents: seconds to wait for an entry before exiting 0 (RAIBID_IDLE_EXIT_SECONDS).
   * @default DEFAULT_IDLE_EXIT_SECONDS (60)
   */
  readonly idleExitSeconds?: number;
}

/**
 * Room a one-shot agent's Job needs beyond the build timeout before Kubernetes' deadline may fire:
 * scheduling and the image pull (up to 5 minutes), checkout and status reporting, so the agent's own
 * timeout (JOB_TIMEOUT_SECONDS) always ends the build first and reports it.
 */
export const ONE_SHOT_START_MARGIN_SECONDS = 300;

/**
 * activeDeadlineSeconds of a one-shot agent's Job: the build timeout, plus the idle wait for an entry,
 * the SIGTERM-to-SIGKILL grace of the last step, and ONE_SHOT_START_MARGIN_SECONDS.
 */
export function oneShotDeadlineSeconds(pool: Pick<AgentPoolConfig, 'timeout'>, idleExit: number): number {
  return durationSeconds(pool.timeout) + idleExit + DEFAULT_KILL_GRACE_SECONDS + ONE_SHOT_START_MARGIN_SECONDS;
}

/** `idleExitSeconds` checked: a whole number of seconds, at least 1. */
export function idleExitSeconds(value: number | undefined): number {
  const v = value ?? DEFAULT_IDLE_EXIT_SECONDS;
  if (!Number.isInteger(v) || v < 1) throw new Error(`'idleExitSeconds' (${v}) must be a whole number of seconds, at least 1, such as ${DEFAULT_IDLE_EXIT_SECONDS}`);
  return v;
}

function env(o: AgentPodOptions): IEnvVar[] {
  const { config: c, pool: p } = o;
  const parallel = Math.max(1, Math.floor(cpuMillis(p.cpuLimit) / 1000 / p.slots));
  const sccacheGiB = Math.max(1, Math.floor((bytes(p.cache.sccache) * SCCACHE_FILL) / 2 ** 30));
  const secret = (name: string, key: string): IEnvVar['valueFrom'] => ({ secretKeyRef: secretKeyRef(name, key) });
  return [
    { name: AGENT_ENV.pool, value: p.name },
    { name: AGENT_ENV.mode, value: p.mode },
    { name: AGENT_ENV.maxConcurrentJobs, value: String(p.slots) },
    { name: AGENT_ENV.jobTimeoutSeconds, value: String(durationSeconds(p.timeout)) },
    { name: AGENT_ENV.redisUrl, value: `redis://${redisInternalAddress(c)}` },
    { name: AGENT_ENV.redisUsername, valueFrom: secret('redis-agent', 'username') },
    { name: AGENT_ENV.redisPassword, valueFrom: secret('redis-agent', 'password') },
    { name: AGENT_ENV.stream, value: p.stream },
    { name: AGENT_ENV.group, value: p.group },
    { name: AGENT_ENV.consumer, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: AGENT_ENV.giteaUrl, value: giteaInternalUrl(c) },
    { name: AGENT_ENV.giteaUser, value: c.gitea.bot.username },
    { name: AGENT_ENV.giteaToken, valueFrom: secret('gitea-agent-token', 'token') },
    { name: AGENT_ENV.registryHost, value: c.registryHost },
    { name: AGENT_ENV.publicUrl, value: apiPublicUrl(c) },
    { name: AGENT_ENV.retentionSeconds, value: String(durationSeconds(c.jobs.retention)) },
    { name: AGENT_ENV.workspace, value: WORKSPACE_DIR },
    { name: AGENT_ENV.killGraceSeconds, value: String(DEFAULT_KILL_GRACE_SECONDS) },
    ...(c.buildkit.enabled
      ? [
          { name: AGENT_ENV.buildkitHost, value: buildkitAddress(c) },
          // Per-architecture registry cache next to each image: <image>:buildcache-<arch>, all layers.
          { name: AGENT_ENV.buildkitCacheTag, value: `buildcache-${c.node.arch}` },
          { name: AGENT_ENV.buildkitCacheExport, value: `type=registry,ref={image}:buildcache-${c.node.arch},mode=max,image-manifest=true,oci-mediatypes=true${c.gitea.registry.tls ? '' : ',registry.insecure=true'}` },
          { name: AGENT_ENV.buildkitCacheImport, value: `type=registry,ref={image}:buildcache-${c.node.arch}${c.gitea.registry.tls ? '' : ',registry.insecure=true'}` },
        ]
      : []),
    { name: AGENT_ENV.home, value: AGENT_HOME },
    { name: AGENT_ENV.cargoHome, value: CARGO_HOME },
    { name: AGENT_ENV.cargoBuildJobs, value: String(parallel) },
    { name: AGENT_ENV.sccacheDir, value: SCCACHE_DIR },
    { name: AGENT_ENV.sccacheCacheSize, value: `${sccacheGiB}G` },
    ...(o.worker ? [] : [{ name: AGENT_ENV.idleExitSeconds, value: String(idleExitSeconds(o.idleExitSeconds)) }]),
  ];
}

function container(o: AgentPodOptions): IContainer {
  const p = o.pool;
  return {
    name: 'agent',
    image: p.image,
    imagePullPolicy: 'IfNotPresent',
    env: env(o),
    resources: {
      requests: { cpu: formatCpu(cpuMillis(p.cpu)), memory: p.memory, 'ephemeral-storage': formatBytes(agentEphemeralStorageBytes(p)) },
      limits: { cpu: formatCpu(cpuMillis(p.cpuLimit)), memory: p.memoryLimit, 'ephemeral-storage': formatBytes(agentEphemeralStorageBytes(p)) },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: AGENT_UID,
      runAsGroup: AGENT_UID,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'workspace', mountPath: WORKSPACE_DIR },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'home', mountPath: AGENT_HOME },
      { name: 'cargo', mountPath: CARGO_HOME },
      { name: 'sccache', mountPath: SCCACHE_DIR },
    ],
    ports: [{ name: 'health', containerPort: AGENT_HEALTH_PORT, protocol: 'TCP' }],
    ...(o.worker
      ? {
          livenessProbe: { httpGet: { path: AGENT_HEALTHZ_PATH, port: 'health' }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
          readinessProbe: { httpGet: { path: AGENT_READYZ_PATH, port: 'health' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2 },
          lifecycle: { preStop: { exec: { command: [...AGENT_DRAIN_COMMAND] } } },
        }
      : {
          // Ready = claimed its entry (see the contract above). No liveness probe: a one-shot agent
          // that hangs is stopped by the Job's activeDeadlineSeconds, and a restart could not resume it.
          readinessProbe: {
            httpGet: { path: AGENT_CLAIMED_PATH, port: 'health' },
            periodSeconds: CLAIM_PROBE_PERIOD_SECONDS,
            timeoutSeconds: 1,
            successThreshold: 1,
            // Unready from the start, so this delays nothing before the claim; after it, a build that
            // saturates the CPU must miss three answers in a row before the pod counts as pending again.
            failureThreshold: 3,
          },
        }),
  };
}

/**
 * Volumes: scratch space as size-limited emptyDirs (the kubelet evicts a pod that writes past a
 * limit, so one runaway build cannot fill the node's disk), the caches as the pool's PVCs.
 */
function volumes(o: AgentPodOptions): IVolume[] {
  return [
    { name: 'workspace', emptyDir: { sizeLimit: formatBytes(bytes(o.pool.workspace)) } },
    { name: 'tmp', emptyDir: { sizeLimit: AGENT_TMP_SIZE } },
    { name: 'home', emptyDir: { sizeLimit: AGENT_HOME_SIZE } },
    { name: 'cargo', persistentVolumeClaim: { claimName: o.cacheClaims.cargo } },
    { name: 'sccache', persistentVolumeClaim: { claimName: o.cacheClaims.sccache } },
  ];
}

/** The pod template of one agent of a pool. */
export function agentPodTemplate(o: AgentPodOptions): IPodTemplateSpec {
  return {
    metadata: { labels: agentLabels(o.pool.name) },
    spec: {
      serviceAccountName: AGENT_SERVICE_ACCOUNT,
      automountServiceAccountToken: false,
      // Low priority, never preempting: under node pressure agents go before the platform they need.
      priorityClassName: AGENT_PRIORITY_CLASS,
      enableServiceLinks: false,
      restartPolicy: o.restartPolicy,
      terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: AGENT_UID,
        runAsGroup: AGENT_UID,
        fsGroup: AGENT_UID,
        // The caches are large: chown them only when their root has the wrong owner.
        fsGroupChangePolicy: 'OnRootMismatch',
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [container(o)],
      volumes: volumes(o),
    },
  };
}
