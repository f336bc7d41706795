/**
 * Redis ACL users and the script that turns the mounted `redis-users` Secret into an ACL file.
 *
 * No shared password: the `default` user is disabled and has no password, and each client role gets its
 * own user limited to the configured stream keys and to the commands that role needs:
 *
 *   raibid-api    produces jobs and keeps their records (src/jobs/): XADD to the pool streams and their
 *                 dead-letter streams; the records, index, logs, delivery markers and heartbeats under
 *                 `raibid:*`; the reaper's XPENDING + XCLAIM and re-queue script; the direct-mode
 *                 dispatcher's XREADGROUP; XINFO GROUPS for queue depth; PUBLISH of cancels; WAITAOF
 *   raibid-agent  consumes: XREADGROUP, XCLAIM (a direct-mode Job taking its entry), XACK + XDEL (or
 *                 XACKDEL), the job record and log under `raibid:*`, its heartbeat, SUBSCRIBE to cancels;
 *                 XADD only to `raibid:*` (logs), never to a pool stream
 *
 * For both runtime users, commands that overwrite or delete a key (DEL, SET, EXPIRE, HSET …) are granted
 * in an ACL selector on `raibid:*` alone, so no bug or hostile build can delete or trim a queue.
 *   raibid-keda   observes:  INFO (KEDA reads redis_version), XINFO GROUPS (lag), XPENDING, XLEN (read-only)
 *   raibid-init   sets up:   XGROUP CREATE … MKSTREAM; its password is random per pod start and never leaves
 *                            the pod (see streams.ts)
 *
 * Every user may PING. None may run CLIENT SETINFO: it exists only from Redis 7.2, and clients that send
 * it on connect (go-redis, hence KEDA) ignore the refusal.
 *
 * The script runs in an init container, hashes each password with SHA-256 (`#<hex>` rules), so the
 * plain-text passwords never reach a file, and writes the ACL file into a memory-backed emptyDir that the
 * server reads through `aclfile`. The test runs this very script with `sh` against a real redis-server.
 * @see https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/
 */
import type { RaibidConfig } from '../config/resolve.js';
import { CANCEL_CHANNEL, EVENTS_CHANNEL, KEY_PREFIX, deadLetterKey } from '../jobs/keys.js';

export const REDIS_API_USER = 'raibid-api';
export const REDIS_AGENT_USER = 'raibid-agent';
export const REDIS_KEDA_USER = 'raibid-keda';
/** The per-pod user the stream/group initialisation runs as. */
export const REDIS_INIT_USER = 'raibid-init';

/** Secret of all client passwords (infrastructure namespace), read by the ACL init container. */
export const REDIS_USERS_SECRET = 'redis-users';

/** Where the ACL script reads the Secret and writes its output, overridable for tests. */
export const REDIS_USERS_DIR = '/etc/redis-users';
export const REDIS_RUN_DIR = '/run/redis';
/** Files the init container writes into the run dir. */
export const REDIS_ACL_FILE = 'users.acl';
export const REDIS_INIT_PASSWORD_FILE = 'init-password';

/** Key access of a user: `%R~` read-only, `%W~` write-only, `~` both. */
export type KeyAccess = '%R~' | '%W~' | '~';

/**
 * Commands newer than the oldest server raibid-ci tests against: granted only when the server in the
 * image has them (an unknown command in the ACL file stops Redis from starting). The ACL script reads
 * the version from `redis-server --version` in the same image.
 */
export const VERSIONED_COMMANDS = {
  /** WAITAOF: Redis 7.2, and every Valkey. */
  waitaof: { redis: [7, 2], valkey: [7, 2] },
  /** XACKDEL: Redis 8.2; not in Valkey 8. */
  xackdel: { redis: [8, 2], valkey: [99, 0] },
} as const satisfies Record<string, { redis: readonly [number, number]; valkey: readonly [number, number] }>;
export type VersionedCommand = keyof typeof VERSIONED_COMMANDS;

export interface RedisUser {
  readonly name: string;
  /** Key of the `redis-users` Secret holding the password; undefined for the per-pod init user. */
  readonly secretKey?: string;
  readonly keys: KeyAccess;
  /** Commands (or `command|subcommand`) allowed besides PING. */
  readonly commands: readonly string[];
  /** Commands granted when the server has them (VERSIONED_COMMANDS). */
  readonly versioned?: readonly VersionedCommand[];
  /**
   * Runtime users: the user also reaches the runtime's keys (`raibid:*`, the dead-letter streams) and
   * channels, and `recordCommands` are allowed on `raibid:*` alone (an ACL selector), so commands that
   * overwrite or delete a key (DEL, SET, EXPIRE …) can never touch a pool stream.
   */
  readonly runtime?: { readonly recordCommands: readonly string[] };
}

/** Commands both runtime users run on any of their keys: reads, scripts, transactions, stream acknowledgement. */
const RUNTIME = ['get', 'hget', 'hgetall', 'exists', 'multi', 'exec', 'eval', 'evalsha', 'xack', 'xdel', 'publish', 'subscribe'];

/** Every ACL user, in the order written. */
export const REDIS_USERS: readonly RedisUser[] = [
  {
    name: REDIS_API_USER,
    secretKey: 'api-password',
    keys: '~',
    commands: [...RUNTIME, 'mget', 'zrange', 'xadd', 'xrange', 'xread', 'xlen', 'xpending', 'xclaim', 'xreadgroup', 'xinfo|groups'],
    versioned: ['waitaof', 'xackdel'],
    runtime: { recordCommands: ['hset', 'set', 'del', 'expire', 'pexpire', 'zadd', 'zrem', 'zremrangebyscore'] },
  },
  {
    name: REDIS_AGENT_USER,
    secretKey: 'agent-password',
    keys: '~',
    commands: [...RUNTIME, 'xreadgroup', 'xclaim', 'xgroup|delconsumer'],
    versioned: ['xackdel'],
    // Agents write only logs (XADD) and records: never a job onto a pool stream.
    runtime: { recordCommands: ['hset', 'set', 'del', 'expire', 'zadd', 'zrem', 'xadd'] },
  },
  { name: REDIS_KEDA_USER, secretKey: 'keda-password', keys: '%R~', commands: ['info', 'xinfo|groups', 'xpending', 'xlen'] },
  { name: REDIS_INIT_USER, keys: '%W~', commands: ['xgroup|create'] },
];

const SAFE = /^[\w:.-]+$/;

/** Stream keys of the configured agent pools, de-duplicated, in pool order. */
export function streamKeys(c: RaibidConfig): string[] {
  return [...new Set(c.agents.pools.map((p) => p.stream))];
}

/** The rules after the password of one user: keys, channels, commands (without the versioned ones). */
export function aclRules(user: RedisUser, streams: readonly string[]): string {
  for (const s of streams) if (!SAFE.test(s)) throw new Error(`stream name ${JSON.stringify(s)} cannot be used in an ACL key pattern`);
  const keys = user.runtime ? [`${KEY_PREFIX}*`, ...streams.flatMap((s) => [s, deadLetterKey(s)])] : streams;
  const channels = user.runtime ? [`&${CANCEL_CHANNEL}`, `&${EVENTS_CHANNEL}`] : [];
  const selector = user.runtime ? [`(~${KEY_PREFIX}* ${user.runtime.recordCommands.map((cmd) => `+${cmd}`).join(' ')})`] : [];
  return ['resetkeys', ...keys.map((k) => `${user.keys}${k}`), 'resetchannels', ...channels, '-@all', '+ping', ...user.commands.map((cmd) => `+${cmd}`), ...selector].join(' ');
}

/**
 * The ACL line of the disabled default user: `off` with no password (`resetpass`), so no connection can
 * ever authenticate as it, and a connection that has not authenticated can run nothing.
 *
 * Its permissions are all commands and keys all the same, because the server replays its append-only
 * file as the default user: releases without the fix for redis/redis#14541 (Valkey 8.0 among them) check a replayed MULTI/EXEC (the form in
 * which every multi-write script and transaction of the job protocol is logged) against the default
 * user's rights and silently drop it when they fall short, losing acknowledged jobs on a restart
 * (redis/redis#14541, valkey-io/valkey#3983). test/api-durability.test.ts proves the jobs survive.
 */
export const DEFAULT_USER_LINE = 'user default off resetpass ~* &* +@all';

/**
 * The init container's script. Environment: RAIBID_REDIS_USERS_DIR (the mounted Secret, default
 * /etc/redis-users) and RAIBID_REDIS_RUN_DIR (output, default /run/redis).
 */
export function aclScript(c: RaibidConfig): string {
  const streams = streamKeys(c);
  const variable = (u: RedisUser) => `hash_${u.name.replace(/\W/g, '_')}`;
  const source = (u: RedisUser) => (u.secretKey ? `"$users_dir/${u.secretKey}"` : `"$run/${REDIS_INIT_PASSWORD_FILE}"`);
  const keys = REDIS_USERS.flatMap((u) => (u.secretKey ? [u.secretKey] : []));
  return [
    '#!/bin/sh',
    '# Builds the Redis ACL file from the redis-users Secret (generated by raibid-ci from src/redis/acl.ts).',
    'set -eu',
    'umask 077',
    `users_dir="\${RAIBID_REDIS_USERS_DIR:-${REDIS_USERS_DIR}}"`,
    `run="\${RAIBID_REDIS_RUN_DIR:-${REDIS_RUN_DIR}}"`,
    `for key in ${keys.join(' ')}; do`,
    '  if [ ! -s "$users_dir/$key" ]; then',
    `    echo "build-acl: $users_dir/$key is missing or empty (Secret ${REDIS_USERS_SECRET}, key $key)" >&2`,
    '    exit 1',
    '  fi',
    'done',
    '# SHA-256 of the exact bytes of a file, as the #<hex> ACL rule expects.',
    'digest() {',
    '  if [ ! -r "$1" ]; then echo "build-acl: cannot read $1" >&2; return 1; fi',
    "  sha256sum < \"$1\" | cut -d ' ' -f 1",
    '}',
    '# Commands newer than some servers: granted only when this image\'s server has them.',
    'version="$("${RAIBID_REDIS_SERVER:-redis-server}" --version 2>/dev/null || true)"',
    'case "$version" in Valkey*) flavour=valkey ;; *) flavour=redis ;; esac',
    'major="$(printf \'%s\' "$version" | sed -n \'s/.* v=\\([0-9]*\\)\\.\\([0-9]*\\).*/\\1/p\')"',
    'minor="$(printf \'%s\' "$version" | sed -n \'s/.* v=\\([0-9]*\\)\\.\\([0-9]*\\).*/\\2/p\')"',
    'at_least() { [ -n "$major" ] && { [ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }; }; }',
    ...Object.entries(VERSIONED_COMMANDS).map(
      ([cmd, v]) => `if { [ "$flavour" = redis ] && at_least ${v.redis[0]} ${v.redis[1]}; } || { [ "$flavour" = valkey ] && at_least ${v.valkey[0]} ${v.valkey[1]}; }; then has_${cmd}=" +${cmd}"; else has_${cmd}=""; fi`,
    ),
    '# The init user: a random password for this pod only, kept next to the ACL file for the postStart hook.',
    `head -c 32 /dev/urandom | sha256sum | cut -d ' ' -f 1 | tr -d '\\n' > "$run/${REDIS_INIT_PASSWORD_FILE}"`,
    ...REDIS_USERS.map((u) => `${variable(u)}="$(digest ${source(u)})"`),
    `tmp="$run/${REDIS_ACL_FILE}.tmp"`,
    '{',
    `  echo '${DEFAULT_USER_LINE}'`,
    ...REDIS_USERS.map((u) => `  echo "user ${u.name} on #$${variable(u)} ${aclRules(u, streams)}${(u.versioned ?? []).map((cmd) => `$has_${cmd}`).join('')}"`),
    '} > "$tmp"',
    `mv "$tmp" "$run/${REDIS_ACL_FILE}"`,
    `echo "build-acl: wrote $run/${REDIS_ACL_FILE} for ${REDIS_USERS.map((u) => u.name).join(', ')}"`,
    '',
  ].join('\n');
}
