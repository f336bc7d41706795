/**
 * The agent's configuration: its environment (contract.ts AGENT_ENV, set by the pool's pod template),
 * parsed once at start with every problem listed.
 */
import { AGENT_ENV, agentEnvSchema, type AgentEnv } from '../contract.js';

export interface AgentConfig {
  readonly pool: string;
  readonly mode: 'ephemeral' | 'pooled' | 'direct';
  readonly slots: number;
  readonly jobTimeoutSeconds: number;
  readonly redis: { readonly url: string; readonly username?: string; readonly password?: string };
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly gitea: { readonly url: string; readonly user: string; readonly token: string };
  readonly registryHost?: string;
  readonly publicUrl: string;
  readonly retentionSeconds: number;
  readonly idleExitSeconds: number;
  readonly jobId?: string;
  readonly buildkit?: { readonly host: string; readonly cacheImport?: string; readonly cacheExport?: string };
  readonly workspace: string;
  readonly healthPort: number;
  readonly killGraceMs: number;
  readonly heartbeatTtlMs: number;
  /** The whole environment: steps inherit PATH, HOME, the cache variables … minus the platform secrets. */
  readonly env: NodeJS.ProcessEnv;
}

export class AgentStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`raibid agent cannot start (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export function loadAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const r = agentEnvSchema.safeParse(env);
  const problems = r.success ? [] : r.error.issues.map((i) => `${String(i.path[0])}: ${env[String(i.path[0])] === undefined ? 'is not set' : i.message}`);
  // The rules between variables read the raw values too, so that one bad variable does not hide them.
  const mode = r.success ? r.data[AGENT_ENV.mode] : env[AGENT_ENV.mode];
  const slots = r.success ? r.data[AGENT_ENV.maxConcurrentJobs] : Number(env[AGENT_ENV.maxConcurrentJobs] ?? 1);
  if (mode === 'direct' && env[AGENT_ENV.jobId] === undefined) problems.push(`${AGENT_ENV.jobId}: is not set (direct-mode agents run the job the API names)`);
  if ((mode === 'ephemeral' || mode === 'direct') && Number.isInteger(slots) && slots > 1) problems.push(`${AGENT_ENV.maxConcurrentJobs}: ${mode} agents run one job; only pooled agents take ${slots}`);
  if (!r.success || problems.length) throw new AgentStartupError(problems);
  const e: AgentEnv = r.data;
  const bk = e[AGENT_ENV.buildkitHost];
  return {
    pool: e[AGENT_ENV.pool],
    mode: e[AGENT_ENV.mode],
    slots: e[AGENT_ENV.maxConcurrentJobs],
    jobTimeoutSeconds: e[AGENT_ENV.jobTimeoutSeconds],
    redis: { url: e[AGENT_ENV.redisUrl], username: e[AGENT_ENV.redisUsername], password: e[AGENT_ENV.redisPassword] },
    stream: e[AGENT_ENV.stream],
    group: e[AGENT_ENV.group],
    consumer: e[AGENT_ENV.consumer],
    gitea: { url: e[AGENT_ENV.giteaUrl].replace(/\/$/, ''), user: e[AGENT_ENV.giteaUser], token: e[AGENT_ENV.giteaToken] },
    registryHost: e[AGENT_ENV.registryHost],
    publicUrl: e[AGENT_ENV.publicUrl],
    retentionSeconds: e[AGENT_ENV.retentionSeconds],
    idleExitSeconds: e[AGENT_ENV.idleExitSeconds],
    jobId: e[AGENT_ENV.jobId],
    buildkit: bk ? { host: bk, cacheImport: e[AGENT_ENV.buildkitCacheImport], cacheExport: e[AGENT_ENV.buildkitCacheExport] } : undefined,
    workspace: e[AGENT_ENV.workspace],
    healthPort: e[AGENT_ENV.healthPort],
    killGraceMs: e[AGENT_ENV.killGraceSeconds] * 1000,
    heartbeatTtlMs: e[AGENT_ENV.heartbeatSeconds] * 1000,
    env,
  };
}

/** Variables a step never sees: the agent's own credentials. */
export const PLATFORM_SECRET_ENV: readonly string[] = [AGENT_ENV.giteaToken, AGENT_ENV.redisPassword, AGENT_ENV.redisUsername, AGENT_ENV.redisUrl];
