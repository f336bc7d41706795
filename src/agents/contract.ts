/**
 * The contract between the agent pool constructs (agent-pod.ts and the three pool modes, which deploy
 * agents) and the agent runtime (runner/, which is `raibid agent`): environment variable names, ports,
 * probe paths, mount paths and the drain command. Both import this module, so a rename fails the type
 * check instead of a cluster. No cdk8s here.
 */
import { z } from 'zod';

/** Environment of every agent container. */
export const AGENT_ENV = {
  pool: 'RAIBID_POOL',
  /** `ephemeral`, `pooled` or `direct`. */
  mode: 'RAIBID_MODE',
  /** Jobs at once (pooled: the pool's slots; 1 otherwise). */
  maxConcurrentJobs: 'MAX_CONCURRENT_JOBS',
  /** The agent ends a job (SIGTERM, then SIGKILL) after this many seconds. */
  jobTimeoutSeconds: 'JOB_TIMEOUT_SECONDS',
  redisUrl: 'REDIS_URL',
  redisUsername: 'REDIS_USERNAME',
  redisPassword: 'REDIS_PASSWORD',
  stream: 'REDIS_STREAM',
  group: 'REDIS_GROUP',
  /** Consumer name in the group; the pod name. */
  consumer: 'REDIS_CONSUMER',
  giteaUrl: 'GITEA_URL',
  giteaUser: 'GITEA_USER',
  giteaToken: 'GITEA_TOKEN',
  registryHost: 'REGISTRY_HOST',
  /** Base URL of the API on the LAN; commit statuses link to the job's log there. */
  publicUrl: 'RAIBID_PUBLIC_URL',
  /** Seconds a finished job's record and log are kept. */
  retentionSeconds: 'RAIBID_RETENTION_SECONDS',
  /** One-shot agents: seconds to wait for an entry before exiting 0. */
  idleExitSeconds: 'RAIBID_IDLE_EXIT_SECONDS',
  /** direct mode: the job this pod runs (set by the API on the Job it creates). */
  jobId: 'RAIBID_JOB_ID',
  buildkitHost: 'BUILDKIT_HOST',
  buildkitCacheTag: 'BUILDKIT_CACHE_TAG',
  buildkitCacheExport: 'BUILDKIT_CACHE_EXPORT',
  buildkitCacheImport: 'BUILDKIT_CACHE_IMPORT',
  home: 'HOME',
  cargoHome: 'CARGO_HOME',
  cargoBuildJobs: 'CARGO_BUILD_JOBS',
  sccacheDir: 'SCCACHE_DIR',
  sccacheCacheSize: 'SCCACHE_CACHE_SIZE',
  /** Where jobs are checked out (the workspace emptyDir). */
  workspace: 'RAIBID_WORKSPACE',
  /** HTTP port of the health endpoints (default AGENT_HEALTH_PORT). */
  healthPort: 'RAIBID_HEALTH_PORT',
  /** Seconds between SIGTERM and SIGKILL when a step is stopped. */
  killGraceSeconds: 'RAIBID_KILL_GRACE_SECONDS',
  /** Seconds a heartbeat lives (renewed every third of it); the reaper takes a job after it lapses. */
  heartbeatSeconds: 'RAIBID_HEARTBEAT_SECONDS',
} as const;

/** Label on every agent pod and pool object (value: the pool name); the API selects direct-mode Jobs by it. */
export const AGENT_POOL_LABEL = 'raibid-ci.dev/agent-pool';
/** Label on each Job (and its pod) the API creates for a direct pool (value: the job id). */
export const AGENT_JOB_LABEL = 'raibid-ci.dev/job';

/** UID and GID of the agent images. */
export const AGENT_UID = 1000;
/** Health port of every agent. */
export const AGENT_HEALTH_PORT = 8081;
export const AGENT_HEALTHZ_PATH = '/healthz';
export const AGENT_READYZ_PATH = '/readyz';
/** One-shot agents (ephemeral, direct): answers 200 once the agent has claimed its stream entry. */
export const AGENT_CLAIMED_PATH = '/claimed';
/** Pooled agents: POST here stops taking jobs and answers when the running ones have finished. */
export const AGENT_DRAIN_PATH = '/drain';
/** Command that drains a pooled worker (preStop): the image's `raibid` command. */
export const AGENT_DRAIN_COMMAND: readonly string[] = ['raibid', 'agent', 'drain'];
/** Default seconds a one-shot agent waits for an entry before it exits 0. */
export const DEFAULT_IDLE_EXIT_SECONDS = 60;
/** Default seconds between SIGTERM and SIGKILL of a step's process group. */
export const DEFAULT_KILL_GRACE_SECONDS = 10;
/** Where the workspace and the build caches are mounted. */
export const WORKSPACE_DIR = '/workspace';
export const AGENT_HOME = '/home/agent';
export const CARGO_HOME = '/cache/cargo';
export const SCCACHE_DIR = '/cache/sccache';

const positiveInt = z.coerce.number().int().min(1);

/** The agent's environment, parsed once at start. */
export const agentEnvSchema = z.object({
  [AGENT_ENV.pool]: z.string().min(1),
  [AGENT_ENV.mode]: z.enum(['ephemeral', 'pooled', 'direct']),
  [AGENT_ENV.maxConcurrentJobs]: positiveInt.default(1),
  [AGENT_ENV.jobTimeoutSeconds]: positiveInt.default(1800),
  [AGENT_ENV.redisUrl]: z.string().regex(/^rediss?:\/\//, { error: 'expected a redis:// URL' }),
  [AGENT_ENV.redisUsername]: z.string().optional(),
  [AGENT_ENV.redisPassword]: z.string().optional(),
  [AGENT_ENV.stream]: z.string().min(1),
  [AGENT_ENV.group]: z.string().min(1),
  [AGENT_ENV.consumer]: z.string().min(1),
  [AGENT_ENV.giteaUrl]: z.url(),
  [AGENT_ENV.giteaUser]: z.string().min(1),
  [AGENT_ENV.giteaToken]: z.string().min(1),
  [AGENT_ENV.registryHost]: z.string().optional(),
  [AGENT_ENV.publicUrl]: z.url().default('http://localhost/'),
  [AGENT_ENV.retentionSeconds]: positiveInt.default(7 * 86_400),
  [AGENT_ENV.idleExitSeconds]: positiveInt.default(DEFAULT_IDLE_EXIT_SECONDS),
  [AGENT_ENV.jobId]: z.string().regex(/^[0-9a-z]{15}$/, { error: 'expected a job id' }).optional(),
  [AGENT_ENV.buildkitHost]: z.string().optional(),
  [AGENT_ENV.buildkitCacheImport]: z.string().optional(),
  [AGENT_ENV.buildkitCacheExport]: z.string().optional(),
  [AGENT_ENV.workspace]: z.string().default(WORKSPACE_DIR),
  [AGENT_ENV.healthPort]: z.coerce.number().int().min(0).max(65535).default(AGENT_HEALTH_PORT),
  [AGENT_ENV.killGraceSeconds]: z.coerce.number().min(0).default(DEFAULT_KILL_GRACE_SECONDS),
  [AGENT_ENV.heartbeatSeconds]: z.coerce.number().min(1).max(300).default(15),
});
export type AgentEnv = z.output<typeof agentEnvSchema>;
