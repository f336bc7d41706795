/**
 * Every Redis key and channel raibid-ci's runtime uses besides the pools' streams. The ACL (src/redis/acl.ts)
 * grants the API and the agents exactly these patterns, so a key outside them fails with NOPERM.
 *
 *   raibid:job:<id>          hash     the job record (record.ts); expires `retention` after it ends
 *   raibid:jobs              zset     every job id (score 0, ordered by id = by creation time)
 *   raibid:log:<id>          stream   the job's log (log.ts); capped, expires with the record
 *   raibid:delivery:<uuid>   string   Gitea delivery id → job id, so a redelivery never queues twice
 *   raibid:agent:<consumer>  string   an agent's last heartbeat (JSON), expires after HEARTBEAT_TTL
 *   raibid:agents            zset     consumer → last heartbeat (ms), for listing agents
 *   raibid:branch:<repo>@<ref>  string  newest queued job of a branch (supersede)
 *   raibid:lock:reaper       string   the reaper leader's lease
 *   <stream>:dead            stream   a pool's dead letters: jobs that lost their agent too often
 *   raibid:cancel            channel  job ids whose cancel was requested while running
 *   raibid:events            channel  a job ended (JSON: id, pool, status, durationMs), for metrics
 */
export const KEY_PREFIX = 'raibid:';
export const JOB_INDEX_KEY = 'raibid:jobs';
export const AGENT_INDEX_KEY = 'raibid:agents';
export const REAPER_LOCK_KEY = 'raibid:lock:reaper';
export const CANCEL_CHANNEL = 'raibid:cancel';
export const EVENTS_CHANNEL = 'raibid:events';
/** Suffix of a pool stream's dead-letter stream. */
export const DEAD_LETTER_SUFFIX = ':dead';

export const jobKey = (id: string): string => `raibid:job:${id}`;
export const logKey = (id: string): string => `raibid:log:${id}`;
export const deliveryKey = (delivery: string): string => `raibid:delivery:${delivery}`;
export const agentKey = (consumer: string): string => `raibid:agent:${consumer}`;
export const branchKey = (repo: string, ref: string): string => `raibid:branch:${repo}@${ref}`;
export const deadLetterKey = (stream: string): string => `${stream}${DEAD_LETTER_SUFFIX}`;

/** Fields of a queue entry: the job id and the attempt it carries. */
export const ENTRY_JOB_FIELD = 'job';
export const ENTRY_ATTEMPT_FIELD = 'attempt';

/** Default milliseconds an agent's heartbeat lives; agents renew it every third of that. */
export const HEARTBEAT_TTL_MS = 15_000;
