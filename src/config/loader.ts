/**
 * Loads raibid.yaml (optional), applies defaults, and rejects invalid values with every problem listed
 * in one pass (YAML, schema, contradictions between keys; src/synth.ts adds the capacity plan's):
 *
 *   raibid.yaml is invalid (2 problems):
 *     raibid.yaml: agents.pools[0].maxReplicas: expected a number or "auto", got "ten"
 *     raibid.yaml: namespaces.ci: "kube-system" is a namespace Kubernetes, k3s or Flux owns (…)
 *
 * Values are shown shortened (src/config/formats.ts, `quote`): a huge value is never echoed in full.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { raibidSchema } from './schema.js';
import { resolveConfig, type RaibidConfig } from './resolve.js';
import { checkContradictions } from './contradictions.js';
import { brief, quote } from './formats.js';

export { checkContradictions };

/** The config file looked for when no path is given. */
export const DEFAULT_CONFIG_FILE = 'raibid.yaml';

/** Longest problem line; a longer one (only a pathological value gets there) is cut. */
const MAX_LINE = 600;

/**
 * Raised for an invalid config; `problems` has one line per problem, each naming the key path.
 * `detail` (the capacity plan's tables, for instance) follows the list.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(
    readonly file: string,
    problems: readonly string[],
    readonly detail?: string,
  ) {
    const lines = problems.map((p) => brief(p, MAX_LINE));
    super(`${file} is invalid (${lines.length} problem${lines.length === 1 ? '' : 's'}):\n${lines.map((p) => `  ${file}: ${p}`).join('\n')}${detail ? `\n\n${detail}` : ''}`);
    this.problems = lines;
    this.name = 'ConfigError';
  }
}

type Path = readonly PropertyKey[];

/** `agents.pools[0].maxReplicas` */
export function formatPath(path: Path): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${brief(String(k))}` : brief(String(k));
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
    if (typeof at.value === 'number' && !Number.isFinite(at.value)) {
      lines.push(`${formatPath(issue.path)}: expected a finite number, got ${at.value}`);
      continue;
    }
    lines.push(`${formatPath(issue.path)}: ${expectation(issue)}, got ${at.found ? quote(at.value) : 'nothing'}`);
  }
  return lines;
}

/** Most alias expansions one document may make (the yaml package's guard against "billion laughs"). */
export const MAX_ALIAS_COUNT = 100;

/** The config path of a node's key within the document, and its line, for duplicate keys. */
function duplicateKeys(doc: Document, lines: LineCounter): string[] {
  const out: string[] = [];
  const line = (node: { range?: [number, number, number] | null } | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : '?');
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (isMap(node)) {
      const seen = new Map<string, unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined) continue;
        const first = seen.get(key);
        if (first !== undefined) out.push(`${formatPath([...path, key])}: duplicate key at line ${line(pair.key as never)} (first at line ${line(first as never)}); keep one of them`);
        else seen.set(key, pair.key);
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
  };
  walk(doc.contents, []);
  return out;
}

/** The line of the first alias (`*name`) in a document. */
function firstAliasLine(doc: Document, lines: LineCounter): number | string {
  let at: number | string = '?';
  visit(doc, {
    Alias(_, node) {
      if (node.range) at = lines.linePos(node.range[0]).line;
      return visit.BREAK;
    },
  });
  return at;
}

/** The YAML text as a plain value, or the problems that keep it from being one (each naming a line or a key). */
function readYaml(text: string): { value?: unknown; problems: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true, lineCounter: lines });
  const problems = [
    ...doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${brief(e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''), 200)}`),
    ...duplicateKeys(doc, lines),
  ];
  if (problems.length > 0) return { problems };
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {}, problems };
  } catch (e) {
    if (e instanceof ReferenceError && /excessive alias count/i.test(e.message)) {
      return { problems: [`line ${firstAliasLine(doc, lines)}: too many aliases: the document expands YAML aliases (*name) more than ${MAX_ALIAS_COUNT} times, as a "billion laughs" document does; write the values out`] };
    }
    return { problems: [`line ${firstAliasLine(doc, lines)}: ${brief((e as Error).message, 200)}`] };
  }
}

/** Issue paths as config paths; unknown keys count as their own path. */
function issuePaths(issues: readonly z.core.$ZodIssue[]): Path[] {
  return issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path]));
}

function deleteAt(root: unknown, path: Path): void {
  let cur: unknown = root;
  for (const k of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) delete (cur as Record<PropertyKey, unknown>)[path[path.length - 1]];
}

/** What a config text holds: every problem found, and the config as far as it could be read. */
export interface ConfigInspection {
  /** One line per problem, each naming the key path (or a line of the file); empty when the config is valid. */
  readonly problems: readonly string[];
  /**
   * The config, fully resolved. When there are problems, values the schema refused are replaced by
   * their defaults (their paths are in `broken`); undefined when even that fails.
   */
  readonly config?: RaibidConfig;
  /** Paths whose values were replaced by defaults. */
  readonly broken: readonly string[];
}

/**
 * Reads config text and finds every problem in one pass: YAML, schema, and the contradictions between
 * keys, these checked on the values that passed the schema (a refused value is replaced by its default,
 * and no contradiction is reported about it).
 */
export function inspectConfig(text: string): ConfigInspection {
  const yaml = readYaml(text);
  if (yaml.problems.length > 0) return { problems: yaml.problems, broken: [] };
  const input = yaml.value;
  if (typeof input !== 'object' || Array.isArray(input) || input === null) return { problems: [`(top level): expected a mapping of settings, got ${quote(input)}`], broken: [] };
  let parsed = raibidSchema.safeParse(input);
  const problems = parsed.success ? [] : describeIssues(parsed.error.issues, input);
  const broken: string[] = [];
  // Best effort: drop each refused value (its default applies), then, if that is not enough, each
  // section that still has a problem.
  const repaired = structuredClone(input) as Record<string, unknown>;
  for (let round = 0; !parsed.success && round < 2; round++) {
    for (const path of issuePaths(parsed.error.issues)) {
      const at = round === 0 && typeof path[path.length - 1] !== 'number' ? path : path.slice(0, 1);
      if (at.length === 0) continue;
      broken.push(formatPath(at));
      deleteAt(repaired, at);
    }
    parsed = raibidSchema.safeParse(repaired);
  }
  if (!parsed.success) return { problems, broken };
  return { problems: [...problems, ...checkContradictions(parsed.data, broken)], config: resolveConfig(parsed.data), broken };
}

/**
 * Parses and validates config text. Throws ConfigError listing every problem.
 * @param file the name shown in messages
 */
export function parseConfig(text: string, file = DEFAULT_CONFIG_FILE): RaibidConfig {
  const { problems, config } = inspectConfig(text);
  if (problems.length > 0 || !config) throw new ConfigError(file, problems);
  return config;
}

/** The text of the config at `path`; ConfigError when there is no such file. */
export function readConfigText(path: string): string {
  if (!existsSync(path)) throw new ConfigError(path, ['(top level): file not found']);
  return readFileSync(path, 'utf8');
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
  return parseConfig(readConfigText(path), path);
}

/** The embedded DGX Spark defaults, fully resolved. */
export function defaultConfig(): RaibidConfig {
  return parseConfig('', '(defaults)');
}
