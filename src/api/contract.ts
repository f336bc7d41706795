/**
 * The contract between the API construct (api.ts, which deploys it) and the API server (server/, which
 * runs it): environment variable names, the mounted settings file and its schema, ports and paths.
 * Both import this module, so a rename fails the type check instead of a cluster. No cdk8s here.
 */
import { z } from 'zod';
import { mirrorSettingsSchema } from '../mirror/contract.js';

/** Environment of the API container. */
export const API_ENV = {
  /** Path of the settings file (YAML, {@link apiSettingsSchema}). */
  settings: 'RAIBID_API_CONFIG',
  redisUrl: 'REDIS_URL',
  redisUsername: 'REDIS_USERNAME',
  redisPassword: 'REDIS_PASSWORD',
  giteaUrl: 'GITEA_URL',
  giteaUser: 'GITEA_USER',
  giteaToken: 'GITEA_TOKEN',
  /** HMAC secret Gitea signs webhook deliveries with. */
  webhookSecret: 'WEBHOOK_SECRET',
  /** HMAC secret GitHub signs push webhooks of mirrored repositories with (X-Hub-Signature-256). */
  githubWebhookSecret: 'GITHUB_WEBHOOK_SECRET',
  /** Bearer token that may read and act (cancel, retry, trigger). */
  adminToken: 'RAIBID_ADMIN_TOKEN',
  /** Bearer token that may only read. */
  readToken: 'RAIBID_READ_TOKEN',
} as const;

/** Where the settings ConfigMap is mounted, and the file in it. */
export const API_CONFIG_DIR = '/etc/raibid';
export const API_SETTINGS_FILE = `${API_CONFIG_DIR}/config.yaml`;
/** Each direct pool's ConfigMap is mounted at `<API_CONFIG_DIR>/jobs/<pool>/` (DIRECT_JOB_FILE, DIRECT_POOL_FILE). */
export const directJobTemplatePath = (pool: string): string => `${API_CONFIG_DIR}/jobs/${pool}`;
export const DIRECT_JOB_FILE = 'job.yaml';
export const DIRECT_POOL_FILE = 'pool.yaml';

/** Routes (also in the OpenAPI document the server serves). */
export const API_PREFIX = '/api/v1';
export const WEBHOOK_ROUTE = `${API_PREFIX}/webhooks/gitea`;
export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
export const METRICS_PATH = '/metrics';

const poolSettings = z.strictObject({
  name: z.string(),
  mode: z.enum(['ephemeral', 'pooled', 'direct']),
  stream: z.string(),
  group: z.string(),
  /**
   * direct pools: folder of the pool's mounted ConfigMap `agent-<pool>-job`: `job.yaml` (the Job
   * template) and `pool.yaml` (stream, group and `maxConcurrentJobs`, the planned number of agents).
   */
  jobTemplate: z.string().optional(),
  /** Most agents the capacity plan gives the pool (its maxReplicaCount; direct pools: concurrent Jobs). */
  planned: z.number().int().min(0).optional(),
});

/** The node, for GET /api/v1/cluster: its name and what the kubelet keeps from pods (raibid.yaml's `node`). */
const clusterSettings = z.strictObject({
  name: z.string().min(1),
  /** node.systemReserved.cpu + node.kubeReserved.cpu, millicores. */
  reservedCpuMillis: z.number().int().min(0),
  /** node.systemReserved.memory + node.kubeReserved.memory + node.evictionHard, bytes. */
  reservedMemoryBytes: z.number().int().min(0),
});

/** The settings file (the API ConfigMap's `config.yaml`). */
export const apiSettingsSchema = z.strictObject({
  /** `host:port` to listen on. */
  listen: z.string().regex(/^[^:\s]+:\d{1,5}$/, { error: 'expected host:port' }),
  /** Base URL of the API on the LAN (`ci.<domain>`); commit statuses link here. */
  publicUrl: z.url(),
  /** Namespace agents (and direct-mode Jobs) run in. */
  namespace: z.string().default('ci'),
  /** The cluster and node the API runs on (absent: GET /api/v1/cluster names no cluster and reserves nothing). */
  cluster: clusterSettings.optional(),
  pools: z.array(poolSettings).min(1),
  defaultPool: z.string(),
  allowedOwners: z.array(z.string()).min(1).default(['*']),
  tagPushes: z.boolean().default(false),
  supersede: z.boolean().default(true),
  /** Seconds finished jobs are kept. */
  retentionSeconds: z.number().int().min(60),
  maxAttempts: z.number().int().min(1).default(3),
  /** Milliseconds a webhook waits for Redis to confirm the job is on disk before answering 503. */
  durabilityTimeoutMs: z.number().int().min(1).default(2000),
  /**
   * `aof`: WAITAOF (Redis ≥ 7.2) before a 2xx. `none`: answer once Redis has the write in memory —
   * only for Redis without WAITAOF; a crash may then lose up to a second of jobs.
   */
  durability: z.enum(['aof', 'none']).default('aof'),
  /** Pipeline file read from each repository at the pushed commit. */
  pipelineFile: z.string().default('.raibid.yaml'),
  /** Milliseconds between reaper passes. */
  reaperIntervalMs: z.number().int().min(100).default(5000),
  /** Milliseconds an entry must be idle (and its agent's heartbeat gone) before the reaper takes it. */
  reaperMinIdleMs: z.number().int().min(0).default(15_000),
  /** The repository mirrors (src/mirror/contract.ts): GitHub webhooks, CI of mirrors, GET /mirrors. */
  mirrors: mirrorSettingsSchema.prefault({}),
});
export type ApiSettings = z.output<typeof apiSettingsSchema>;
export type ApiSettingsInput = z.input<typeof apiSettingsSchema>;
