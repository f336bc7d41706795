/**
 * The Lua scripts behind every multi-key change of the job protocol. Each runs atomically in Redis, so
 * a crash between two writes can never leave a job half-updated: the record, the index, the queue
 * entry and the delivery marker change together or not at all. The state machine itself stays in
 * TypeScript (record.ts): callers pass the states a transition may start from.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Runs a script by its SHA, loading it on NOSCRIPT (after a Redis restart, for instance). */
export async function runScript(redis: Redis, s: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!String((e as Error).message).startsWith('NOSCRIPT')) throw e;
    return redis.eval(s.lua, keys.length, ...keys, ...args);
  }
}

/**
 * Creates a job and queues it. KEYS: record, index, stream, delivery. ARGV: id, attempt, use delivery
 * (1/0), delivery ttl seconds, then the record's fields. A known delivery returns `{0, <job id>}` and
 * writes nothing; otherwise `{1, <entry id>}`.
 */
export const ENQUEUE = script(`
if ARGV[3] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {0, existing} end
end
local entry = redis.call('XADD', KEYS[3], '*', 'job', ARGV[1], 'attempt', ARGV[2])
redis.call('HSET', KEYS[1], 'entry', entry, unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[3] == '1' then redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[4]) end
return {1, entry}
`);

/**
 * Moves a job to a new status. KEYS: record, log. ARGV: allowed current states (comma-separated), new
 * status, retention seconds (0: the job goes on; > 0: it ended — an `end` marker closes its log and
 * both keys expire), now (ms), then fields to set. Returns `{1, from}` when applied, `{0, current}`
 * when the current state does not allow it, `{-1, ''}` when the job does not exist.
 */
export const TRANSITION = script(`
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1, ''} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == cur then allowed = true end
end
if not allowed then return {0, cur} end
if #ARGV >= 5 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 5))
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('XADD', KEYS[2], '*', 'k', 'end', 's', '', 't', ARGV[4], 'd', 'job ' .. ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return {1, cur}
`);

/**
 * The reaper's move for an entry whose agent is gone. KEYS: record, stream, dead-letter stream, log.
 * ARGV: group, entry id, job id, max attempts, now, reason, retention seconds, terminal states
 * (comma-separated). The old entry is acknowledged and deleted in every case; then:
 * - the job already ended (its agent died after writing the result) → `cleaned`;
 * - attempts are used up → the job is `dead`, copied to the dead-letter stream → `dead`;
 * - otherwise → a new entry with attempt + 1, the job `queued` again → `requeued`.
 * Returns `{outcome, previous status, attempt}`.
 */
export const REQUEUE = script(`
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {'cleaned', '', 0} end
for s in string.gmatch(ARGV[8], '[^,]+') do
  if s == cur then return {'cleaned', cur, 0} end
end
local current = redis.call('HGET', KEYS[1], 'entry')
if current and current ~= ARGV[2] then return {'cleaned', cur, 0} end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1')
if attempt >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'dead', 'finishedAt', ARGV[5], 'reason', ARGV[6])
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[3], 'attempt', tostring(attempt), 'reason', ARGV[6])
  redis.call('XADD', KEYS[4], '*', 'k', 'end', 's', '', 't', ARGV[5], 'd', 'job dead: ' .. ARGV[6])
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[7])
  return {'dead', cur, attempt}
end
local entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[3], 'attempt', tostring(attempt + 1))
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempt', tostring(attempt + 1), 'entry', entry, 'reason', ARGV[6], 'agent', '', 'startedAt', '', 'steps', '[]')
redis.call('XADD', KEYS[4], '*', 'k', 'info', 's', '', 't', ARGV[5], 'd', 're-queued (attempt ' .. tostring(attempt + 1) .. '): ' .. ARGV[6])
return {'requeued', cur, attempt + 1}
`);

/** Acknowledges and deletes one delivered entry. KEYS: stream. ARGV: group, entry id. */
export const ACK_DELETE = script(`
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return n
`);

/** Renews the reaper lease if this holder has it, or takes it when free. KEYS: lock. ARGV: holder, ttl ms. */
export const LEASE = script(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`);
