/**
 * Loads raibid.yaml (optional), applies defaults, and rejects invalid values with every problem listed:
 *
 *   raibid.yaml is invalid (2 problems):
 *     raibid.yaml: agents.pools[0].maxReplicas: expected an integer ≥ 1 or "auto", got "ten"
 *     raibid.yaml: redis.storage: expected a memory quantity such as "512Mi" or "4Gi", got "lots"
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { raibidSchema, type ParsedConfig } from './schema.js';
import { bytes, cpuMillis, durationSeconds, formatBytes, formatCpu } from './quantity.js';
import { resolveConfig, type RaibidConfig } from './resolve.js';
import { mirrorContradictions } from './sections/mirrors.js';

/** The config file looked for when no path is given. */
export const DEFAULT_CONFIG_FILE = 'raibid.yaml';

/** Raised for an invalid config; `problems` has one line per problem, each naming the key path. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${file}: ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Path = readonly PropertyKey[];

/** `agents.pools[0].maxReplicas` */
export function formatPath(path: Path): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(top level)';
}

function valueAt(root: unknown, path: Path): { found: boolean; value?: unknown } {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || !(k in (cur as object))) return { found: false };
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return { found: true, value: cur };
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'a mapping' : String(v);
}

const JSON_SCHEMA = z.toJSONSchema(raibidSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/** Keys allowed at a path of the config, from the generated JSON Schema. */
function allowedKeys(path: Path): string[] {
  let node: Record<string, unknown> | undefined = JSON_SCHEMA;
  for (const k of path) {
    if (!node) return [];
    node = typeof k === 'number' ? (node.items as Record<string, unknown> | undefined) : ((node.properties as Record<string, Record<string, unknown>> | undefined)?.[String(k)]);
  }
  return Object.keys((node?.properties as object | undefined) ?? {});
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/** What one zod issue expected, in words (without the "got" part). */
function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'array') return `expected at least ${min} item${min === '1' ? '' : 's'}`;
      if (issue.origin === 'string') return `expected at least ${min} characters`;
      return `expected ${issue.origin === 'int' ? 'an integer' : 'a number'} ${issue.inclusive ? '≥' : '>'} ${min}`;
    }
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'array') return `expected at most ${max} items`;
      if (issue.origin === 'string') return `expected at most ${max} characters`;
      return `expected ${issue.origin === 'int' ? 'an integer' : 'a number'} ${issue.inclusive ? '≤' : '<'} ${max}`;
    }
    case 'invalid_value':
      return `expected ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union': {
      const branches = issue.errors.map((branch) => (branch.length === 1 && branch[0].path.length === 0 ? expectation(branch[0]).replace(/^expected /, '') : ''));
      if (branches.every(Boolean)) return `expected ${[...new Set(branches)].join(' or ')}`;
      return issue.message;
    }
    default:
      return issue.message;
  }
}

/** Turns zod issues into `path: expected …, got …` lines. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(issue.path);
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown key${allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`);
      continue;
    }
    const at = valueAt(input, issue.path);
    lines.push(`${formatPath(issue.path)}: ${expectation(issue)}, got ${at.found ? show(at.value) : 'nothing'}`);
  }
  return lines;
}

/** Contradictions between otherwise valid values; each line names the key path. */
export function checkContradictions(c: ParsedConfig): string[] {
  const out: string[] = [];
  const node = c.node;
  const allocCpu = node.cpu * 1000 - cpuMillis(node.systemReserved.cpu) - cpuMillis(node.kubeReserved.cpu);
  const allocMem = bytes(node.memory) - bytes(node.systemReserved.memory) - bytes(node.kubeReserved.memory) - bytes(node.evictionHard);
  if (allocCpu <= 0) out.push(`node.systemReserved.cpu: reservations (${formatCpu(node.cpu * 1000 - allocCpu)}) leave no CPU of node.cpu (${node.cpu}) for pods`);
  if (allocMem <= 0) out.push(`node.systemReserved.memory: reservations leave no memory of node.memory (${node.memory}) for pods`);

  const limits: [string, { memory: string; memoryLimit: string; cpu: string | number; cpuLimit?: string | number }][] = [
    ['gitea.resources', c.gitea.resources],
    ['gitea.postgres.resources', c.gitea.postgres.resources],
    ['redis.resources', c.redis.resources],
    ['api.resources', c.api.resources],
    ['buildkit.resources', c.buildkit.resources],
  ];
  c.agents.pools.forEach((p, i) => limits.push([`agents.pools[${i}]`, { memory: p.memory, memoryLimit: p.memoryLimit ?? p.memory, cpu: p.cpu, cpuLimit: p.cpuLimit }]));
  for (const [path, r] of limits) {
    if (bytes(r.memoryLimit) < bytes(r.memory)) out.push(`${path}.memoryLimit: ${JSON.stringify(r.memoryLimit)} is below the memory request ${JSON.stringify(r.memory)}; set it ≥ memory`);
    if (r.cpuLimit !== undefined && cpuMillis(r.cpuLimit) < cpuMillis(r.cpu)) out.push(`${path}.cpuLimit: ${JSON.stringify(r.cpuLimit)} is below the CPU request ${JSON.stringify(r.cpu)}; set it ≥ cpu`);
  }

  const names = new Map<string, number>();
  const queues = new Map<string, number>();
  c.agents.pools.forEach((p, i) => {
    const at = `agents.pools[${i}]`;
    if (names.has(p.name)) out.push(`${at}.name: duplicate pool name ${JSON.stringify(p.name)} (also agents.pools[${names.get(p.name)}]); pool names must be unique`);
    else names.set(p.name, i);
    const queue = `${p.stream ?? `ci-${p.name}`}\u0000${p.group}`;
    if (queues.has(queue)) out.push(`${at}.stream: pools ${queues.get(queue)} and ${i} both consume stream ${JSON.stringify(p.stream ?? `ci-${p.name}`)} with group ${JSON.stringify(p.group)} and would take each other's jobs; give one another stream or group`);
    else queues.set(queue, i);
    if (p.slots !== undefined && p.mode !== 'pooled') out.push(`${at}.slots: only pooled pools have slots, but mode is ${JSON.stringify(p.mode)}; remove slots or set mode: pooled`);
    if (p.minReplicas > 0 && p.mode === 'direct') out.push(`${at}.minReplicas: direct pools start one Job per task and keep no idle agents; remove minReplicas or use mode: pooled`);
    if (typeof p.maxReplicas === 'number' && p.minReplicas > p.maxReplicas) out.push(`${at}.minReplicas: ${p.minReplicas} is above maxReplicas ${p.maxReplicas}`);
    if (allocCpu > 0 && cpuMillis(p.cpu) > allocCpu) out.push(`${at}.cpu: one agent requests ${JSON.stringify(p.cpu)} but the node has only ${formatCpu(allocCpu)} CPU allocatable (node.cpu − reservations)`);
    if (p.image !== undefined && p.toolchain !== undefined) out.push(`${at}.toolchain: ${JSON.stringify(p.toolchain)} names an image raibid-ci builds, but image is set too (${JSON.stringify(p.image)}); keep one of them`);
    if (allocMem > 0 && bytes(p.memory) > allocMem) out.push(`${at}.memory: one agent requests ${JSON.stringify(p.memory)} but the node has only ${formatBytes(allocMem)} allocatable (node.memory − reservations − eviction)`);
  });
  const n = c.namespaces;
  for (const [key, other] of [['ci', n.ci], ['buildkit', n.buildkit]] as const) {
    // The build Jobs' namespace holds the admin's package token: agents and the API (ci) may create pods
    // there, and the buildkit namespace is the Pod Security exception; neither may share it.
    if (n.images === other) out.push(`namespaces.images: ${JSON.stringify(n.images)} is also namespaces.${key}; the image builds need a namespace of their own`);
  }
  if (!c.buildkit.enabled) {
    // The default images are built in the cluster by BuildKit (infrastructure/images).
    const built = [...(c.api.image === undefined ? ['api'] : []), ...c.agents.pools.flatMap((p, i) => (p.image === undefined ? [`agents.pools[${i}]`] : []))];
    if (built.length > 0) out.push(`buildkit.enabled: false, but ${built.join(', ')} run${built.length === 1 ? 's' : ''} an image raibid-ci builds in the cluster with BuildKit; enable buildkit, or set ${built.map((b) => `${b}.image`).join(', ')} to images you build and push yourself`);
  }
  out.push(...mirrorContradictions(c));
  const defaultPool = c.jobs.defaultPool;
  if (defaultPool !== undefined && !names.has(defaultPool)) out.push(`jobs.defaultPool: ${JSON.stringify(defaultPool)} is not a pool of agents.pools (${[...names.keys()].join(', ')})`);
  if (durationSeconds(c.jobs.retention) < 86_400) out.push(`jobs.retention: ${JSON.stringify(c.jobs.retention)} is under 24h; finished jobs must stay visible for at least a day, such as "7d"`);
  return out;
}

/**
 * Parses and validates config text. Throws ConfigError listing every problem.
 * @param file the name shown in messages
 */
export function parseConfig(text: string, file = DEFAULT_CONFIG_FILE): RaibidConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`));
  }
  const input: unknown = doc.toJS() ?? {};
  if (typeof input !== 'object' || Array.isArray(input) || input === null) throw new ConfigError(file, [`(top level): expected a mapping of settings, got ${show(input)}`]);
  const parsed = raibidSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(file, describeIssues(parsed.error.issues, input));
  const contradictions = checkContradictions(parsed.data);
  if (contradictions.length > 0) throw new ConfigError(file, contradictions);
  return resolveConfig(parsed.data);
}

/** Which config file to read: `--config PATH`, else $RAIBID_CONFIG, else ./raibid.yaml when present. */
export function configPath(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): string | undefined {
  const i = argv.indexOf('--config');
  if (i >= 0) {
    const p = argv[i + 1];
    if (!p) throw new Error('--config needs a path');
    return p;
  }
  const eq = argv.find((a) => a.startsWith('--config='));
  if (eq) return eq.slice('--config='.length);
  if (env.RAIBID_CONFIG) return env.RAIBID_CONFIG;
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** Loads the config at `path` (a missing explicit path is an error), or the embedded defaults when undefined. */
export function loadConfig(path?: string): RaibidConfig {
  if (path === undefined) return parseConfig('', '(defaults)');
  if (!existsSync(path)) throw new ConfigError(path, ['(top level): file not found']);
  return parseConfig(readFileSync(path, 'utf8'), path);
}

/** The embedded DGX Spark defaults, fully resolved. */
export function defaultConfig(): RaibidConfig {
  return parseConfig('', '(defaults)');
}
