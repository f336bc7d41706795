/** `agents`, `api`, `buildkit`: what runs the builds. */
import { z } from 'zod';
import { cpu, cronSchedule, dnsLabel, duration, gibibytes, image, memory, memoryBytes, resources } from '../types.js';
import { AGENT_TOOLCHAINS } from '../../images/catalog.js';

export const POOL_MODES = ['ephemeral', 'pooled', 'direct'] as const;

export const poolSchema = z.strictObject({
  name: dnsLabel.max(40).describe('Pool name; objects are named agent-<name>.'),
  mode: z
    .enum(POOL_MODES)
    .default('ephemeral')
    .describe('ephemeral: a KEDA ScaledJob, one pod per job, scale to zero. pooled: a Deployment of workers with several slots each, scaled on lag. direct: the API creates one Job per task.'),
  image: image
    .optional()
    .describe('Agent image of your own (it must meet the agent contract in src/agents/agent-pod.ts). Unset: the toolchain image raibid-ci builds in the cluster, gitea.<domain>/<gitea.admin.username>/agent-<toolchain>:<content tag>.'),
  toolchain: z
    .enum(AGENT_TOOLCHAINS)
    .optional()
    .describe('Agent image raibid-ci builds from images/agent-<toolchain>/Dockerfile (infrastructure/images) and tags with the hash of its sources, when image is unset. Default: rust.'),
  stream: z.string().regex(/^[\w:.-]{1,100}$/, { error: 'expected a Redis key such as "ci-jobs"' }).optional().describe('Redis stream the pool consumes. Default: ci-<name>.'),
  group: z.string().regex(/^[\w:.-]{1,100}$/, { error: 'expected a consumer group name such as "ci-workers"' }).default('ci-workers').describe('Consumer group on the stream.'),
  cpu: cpu.default('2').describe('CPU request of one agent (one slot for pooled workers is cpu / slots).'),
  memory: memory.default('4Gi').describe('Memory request of one agent; also its memory limit unless memoryLimit is set.'),
  memoryLimit: memory.optional().describe('Memory limit of one agent. Default: equal to memory.'),
  cpuLimit: cpu.optional().describe('Burst policy: CPU limit of one agent (pod). Above cpu, agents burst into idle cores; CAPACITY.md reports how many fit at full burst. Unset means equal to cpu (no burst).'),
  maxReplicas: z
    .union([z.number().int().min(1).max(1000), z.literal('auto')])
    .default('auto')
    .describe('Most agents (pods) at once. "auto": the largest number that fits the node after the platform and the other pools.'),
  minReplicas: z.number().int().min(0).max(1000).default(0).describe('Agents kept running when idle. pooled mode only: ephemeral and direct pools start from zero, and refuse a minReplicas above 0.'),
  slots: z.number().int().min(1).max(64).optional().describe('pooled mode only: concurrent jobs per worker pod. Default 4.'),
  timeout: duration.default('30m').describe('Build timeout: Job activeDeadlineSeconds, and the grace period pooled workers get to drain.'),
  pollingInterval: z.number().int().min(1).max(300).default(5).describe('Seconds between KEDA checks of the stream.'),
  activationLagCount: z.number().int().min(0).max(1_000_000).default(0).describe('Lag above which KEDA wakes the pool from zero.'),
  workspace: memory
    .refine((s) => (memoryBytes(s) ?? Infinity) >= 2 ** 30, { error: 'expected at least 1Gi: a checkout with its build output needs tens of GiB, such as "50Gi"' })
    .default('50Gi')
    .describe('Scratch disk of one agent (pod): size limit of its /workspace emptyDir (checkout and target/). With /tmp, $HOME and its logs it is the pod\'s ephemeral-storage request and limit, and counts against node.disk in the capacity plan.'),
  cache: z
    .strictObject({
      cargo: gibibytes.default('20Gi').describe('PVC for the cargo registry and git checkouts (CARGO_HOME).'),
      sccache: gibibytes.default('30Gi').describe('PVC for the sccache compiler cache.'),
    })
    .prefault({}),
});

export const agentsSection = z
  .strictObject({
    pools: z
      .array(poolSchema)
      .min(1, { error: 'expected at least one agent pool' })
      .prefault([{ name: 'rust', stream: 'ci-jobs', group: 'ci-workers' }])
      .describe('Agent pools; each consumes one stream with one consumer group.'),
    cacheMaxAge: duration.default('7d').describe('Build-cache entries not used for this long are pruned.'),
    cachePruneSchedule: cronSchedule('0 3 * * *').default('0 3 * * *').describe('Cron schedule of the cache pruner.'),
    pruneImage: image.default('docker.io/library/busybox:1.37.0').describe('Image of the cache pruner (needs sh, and find with -amin, -mmin, -empty and -exec … +, as in busybox).'),
  })
  .prefault({});

export const apiSection = z
  .strictObject({
    image: image
      .optional()
      .describe('API image of your own. Unset: the image raibid-ci builds in the cluster from images/raibid-api/Dockerfile, gitea.<domain>/<gitea.admin.username>/raibid-api:<content tag>.'),
    replicas: z.number().int().min(1).max(10).default(1).describe('API replicas.'),
    port: z.number().int().min(1024).max(65535).default(8080).describe('Container port of the API.'),
    lanPort: z.number().int().min(1).max(65535).default(8080).describe('Port of ci.<domain> on the LAN (a k3s ServiceLB LoadBalancer on the node address); Gitea webhooks use the in-cluster Service instead.'),
    resources: resources({ cpu: '100m', memory: '128Mi', memoryLimit: '256Mi' }),
  })
  .prefault({});

/** `jobs`: how pushes become jobs, and how long their records live. */
export const jobsSection = z
  .strictObject({
    defaultPool: dnsLabel.max(40).optional().describe('Pool of a job whose repository has no pipeline file or names no pool. Default: the first of agents.pools.'),
    allowedOwners: z
      .array(z.string().regex(/^(\*|[\w.-]{1,100})$/, { error: 'expected a Gitea user or organisation name, or "*"' }))
      .min(1, { error: 'expected at least one owner (use ["*"] for every owner)' })
      .default(['*'])
      .describe('Gitea users and organisations whose repositories may run CI; "*" allows every owner. Gitea has sign-up off, so every owner is one the admin created. Pushes to other repositories get a 2xx that says why nothing was queued.'),
    tagPushes: z.boolean().default(false).describe('Queue a job for a pushed tag (not only for branches).'),
    supersede: z.boolean().default(true).describe('A newer push to a branch cancels that branch\'s older job while it is still queued.'),
    retention: duration.default('7d').describe('How long a finished job\'s record and log are kept (at least 24h).'),
    maxAttempts: z.number().int().min(1).max(10).default(3).describe('Times a job is started before a job whose agent keeps dying goes to the dead-letter stream.'),
  })
  .prefault({});

export const buildkitSection = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run the rootless BuildKit daemon for image builds.'),
    image: image.default('docker.io/moby/buildkit:v0.32.2-rootless').describe('BuildKit rootless image.'),
    resources: resources({ cpu: '250m', memory: '512Mi', memoryLimit: '8Gi' }),
    cacheStorage: gibibytes.default('50Gi').describe('Local BuildKit state volume (layer cache).'),
  })
  .prefault({});

export const imagesSection = z
  .strictObject({
    buildTimeout: duration
      .default('60m')
      .describe('Longest an in-cluster image build may take (the build Jobs\' activeDeadlineSeconds); the infra-images Kustomization waits this long plus flux.timeout before it reports failure.'),
  })
  .prefault({})
  .describe('The images raibid-ci builds in the cluster (images/): the API and the agent toolchains.');

export type PoolInput = z.infer<typeof poolSchema>;
