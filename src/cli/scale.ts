/**
 * `raibid scale POOL N`: scaling stays GitOps. It edits `agents.pools[].maxReplicas` in the checkout's
 * raibid.yaml, runs synth (which plans the capacity and refuses what does not fit), and prints the diff
 * and the commit to make. It never patches the cluster (Flux would revert that) and never commits or
 * pushes.
 *
 * How synth runs: as a child process in the checkout — `npm run --silent synth` (the checkout's own
 * `tsx src/main.ts`), or the shell command in $RAIBID_SYNTH_COMMAND (tests inject a stub this way).
 * The CLI is bundled into the runtime images, and runtime code must not import the stack (cdk8s,
 * Pulumi): a child process keeps the bundle free of it without an esbuild "external" path that would
 * only resolve inside a checkout, uses the checkout's own sources and dependencies (so the tree it
 * writes is exactly what `npm run synth` writes there), and relies only on synth's documented contract:
 * exit 0 and a summary, or exit 1 with the problems (the budget table for a plan that does not fit)
 * and no file changed. On a refusal (or Ctrl+C during synth) raibid.yaml is restored byte for byte.
 *
 * The edit touches one line: the document is parsed with the yaml package's Document API to find the
 * pool and the source range of its `maxReplicas` value, and only that range is replaced (or one line
 * inserted after the pool's `name:` line), so comments, quoting and layout stay as they were.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Scalar, type YAMLMap } from 'yaml';
import { CLI_ENV } from './config.js';

/** The config file synth reads, at the root of a checkout. */
export const CONFIG_FILE = 'raibid.yaml';
/** The capacity plan synth writes (its "Agent pools" table has each pool's planned pods). */
export const CAPACITY_FILE = 'CAPACITY.md';
export const DEFAULT_SYNTH_COMMAND = 'npm run --silent synth';
/** maxReplicas bounds of the config schema (src/config/sections/apps.ts). */
const MIN_REPLICAS = 1;
const MAX_REPLICAS = 1000;

/** A problem found before anything changed (exit 2, one line). */
export class ScaleError extends Error {}

export type ReplicaValue = number | 'auto';
/** What to set: a number, "auto", or a change relative to the current value (+1, -2). */
export type ScaleTarget = { readonly kind: 'set'; readonly value: ReplicaValue } | { readonly kind: 'add'; readonly delta: number };

export function parseScaleTarget(text: string): ScaleTarget {
  if (text === 'auto') return { kind: 'set', value: 'auto' };
  if (/^[+-]\d+$/.test(text)) return { kind: 'add', delta: Number(text) };
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < MIN_REPLICAS || n > MAX_REPLICAS) throw new ScaleError(`N: expected ${MIN_REPLICAS} to ${MAX_REPLICAS} (pools scale down to zero by themselves when idle), got ${text}`);
    return { kind: 'set', value: n };
  }
  throw new ScaleError(`N: expected a number of agents, "auto", or +N/-N, got ${JSON.stringify(text)}`);
}

function isCheckout(dir: string): boolean {
  if (existsSync(join(dir, CONFIG_FILE))) return true;
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'raibid-ci';
  } catch {
    return false;
  }
}

/**
 * The checkout to edit: `explicit` (--dir, $RAIBID_CHECKOUT or the config file's `checkout:`), else the
 * first folder from `cwd` upwards that holds raibid.yaml or raibid-ci's package.json. Undefined when
 * there is none.
 */
export function findCheckout(cwd: string, explicit?: string): string | undefined {
  if (explicit) {
    const dir = resolve(cwd, explicit.replace(/^~(?=\/|$)/, process.env.HOME ?? '~'));
    return isCheckout(dir) ? dir : undefined;
  }
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (isCheckout(d)) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** The planned pods of each pool from CAPACITY.md's "Agent pools" table. */
export function plannedPods(capacityMd: string): Map<string, number> {
  const out = new Map<string, number>();
  const section = capacityMd.split(/^## /m).find((s) => s.startsWith('Agent pools'));
  if (!section) return out;
  const rows = section.split('\n').filter((l) => l.startsWith('|')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  const [header, , ...body] = rows;
  const pool = header?.indexOf('Pool') ?? -1;
  const pods = header?.indexOf('Pods') ?? -1;
  if (pool < 0 || pods < 0) return out;
  for (const r of body) if (/^\d+$/.test(r[pods] ?? '')) out.set(r[pool], Number(r[pods]));
  return out;
}

export interface PoolEntry {
  readonly index: number;
  readonly name: string;
  /** As written in raibid.yaml; undefined when the pool does not set it (the default, auto). */
  readonly maxReplicas?: ReplicaValue;
}

/** The pools listed in raibid.yaml. Throws ScaleError when the file is not YAML or lists none. */
export function listPools(text: string, file = CONFIG_FILE): PoolEntry[] {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new ScaleError(`${file}: not valid YAML (${doc.errors[0].message.split('\n')[0]})`);
  const pools = doc.getIn(['agents', 'pools'], true);
  if (!isSeq(pools)) throw new ScaleError(`${file} lists no agents.pools, so the embedded default pool is in use: add the pool under agents.pools first (see CONFIG.md)`);
  return pools.items.flatMap((item, index) => {
    if (!isMap(item)) return [];
    const name = item.get('name');
    const max = item.get('maxReplicas');
    return typeof name === 'string' ? [{ index, name, maxReplicas: typeof max === 'number' || max === 'auto' ? max : undefined }] : [];
  });
}

/** raibid.yaml with one pool's maxReplicas set to `value`, changing only that line (or adding one). */
export function setMaxReplicas(text: string, pool: string, value: ReplicaValue, file = CONFIG_FILE): string {
  const doc = parseDocument(text);
  const entry = listPools(text, file).find((p) => p.name === pool);
  if (!entry) throw new ScaleError(`${file} has no pool ${JSON.stringify(pool)} (pools: ${listPools(text, file).map((p) => p.name).join(', ')})`);
  const item = (doc.getIn(['agents', 'pools'], true) as { items: unknown[] }).items[entry.index] as YAMLMap;
  const current = item.get('maxReplicas', true) as Scalar | undefined;
  let out: string;
  if (current && isScalar(current) && current.range) {
    out = text.slice(0, current.range[0]) + String(value) + text.slice(current.range[1]);
  } else if (item.flow && item.range) {
    const close = text.lastIndexOf('}', item.range[1]);
    out = `${text.slice(0, close).trimEnd()}, maxReplicas: ${value} ${text.slice(close)}`;
  } else {
    const namePair = item.items.find((p) => isScalar(p.key) && p.key.value === 'name');
    const key = namePair?.key as Scalar | undefined;
    const val = namePair?.value as Scalar | undefined;
    if (!key?.range || !val?.range) throw new ScaleError(`${file}: cannot find the name of pool ${pool}`);
    const column = key.range[0] - (text.lastIndexOf('\n', key.range[0] - 1) + 1);
    const eol = text.indexOf('\n', val.range[1]);
    const at = eol < 0 ? text.length : eol;
    out = `${text.slice(0, at)}\n${' '.repeat(column)}maxReplicas: ${value}${text.slice(at)}`;
  }
  // The edit must mean exactly this change and nothing else.
  const before = parseDocument(text).toJS() as { agents: { pools: Record<string, unknown>[] } };
  const after = parseDocument(out).toJS() as { agents: { pools: Record<string, unknown>[] } };
  before.agents.pools[entry.index].maxReplicas = value;
  if (canonical(before) !== canonical(after)) throw new ScaleError(`${file}: could not edit pool ${pool}'s maxReplicas without changing other values; edit it by hand`);
  return out;
}

/** JSON with sorted keys, to compare two documents whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** A unified diff of two texts (a few lines of context), for showing one small edit. */
export function unifiedDiff(a: string, b: string, name: string, context = 2): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  // Longest common subsequence table (config files are small).
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: { op: ' ' | '-' | '+'; line: string; ai: number; bi: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) ops.push({ op: ' ', line: x[i], ai: i++, bi: j++ });
    else if (i < x.length && (j >= y.length || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ op: '-', line: x[i], ai: i++, bi: j });
    else ops.push({ op: '+', line: y[j], ai: i, bi: j++ });
  }
  const out = [`--- a/${name}`, `+++ b/${name}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].op === ' ') {
      k++;
      continue;
    }
    const start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while changes are closer than 2 × context lines apart.
    for (let m = k; m < ops.length; m++) {
      if (ops[m].op !== ' ') end = m;
      else if (m - end > 2 * context) break;
    }
    const stop = Math.min(ops.length, end + context + 1);
    const hunk = ops.slice(start, stop);
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${hunk[0].ai + 1},${aLen} +${hunk[0].bi + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    k = stop;
  }
  return out;
}

export interface SynthRun {
  readonly code: number;
  readonly output: string[];
  /** Set when synth was stopped by a signal (Ctrl+C in the dashboard, the timeout). */
  readonly signal?: string;
}

/** Runs synth in the checkout; never throws for a failing synth (that is `code`). */
export function runSynthCommand(root: string, env: NodeJS.ProcessEnv, onStart?: (stop: () => void) => void): Promise<SynthRun> {
  const custom = env[CLI_ENV.synthCommand];
  const [cmd, args] = custom ? ['sh', ['-c', custom]] : ['npm', ['run', '--silent', 'synth']];
  return new Promise((resolvePromise) => {
    // Synth reads $RAIBID_CONFIG before raibid.yaml: point it at the file that was edited.
    const child = spawn(cmd, args, { cwd: root, env: { ...env, RAIBID_CONFIG: join(root, CONFIG_FILE), [CLI_ENV.synthCommand]: undefined }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 5 * 60_000);
    onStart?.(() => child.kill('SIGTERM'));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolvePromise({ code: 127, output: [`cannot run ${custom ? `${CLI_ENV.synthCommand} (${custom})` : DEFAULT_SYNTH_COMMAND}: ${e.message}`] });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 128, signal: signal ?? undefined, output: text === '' ? [] : text.replace(/\n+$/, '').split('\n') });
    });
  });
}

/** `git status --short` lines of the checkout, or undefined when it is not a git work tree. */
function gitChanges(root: string): string[] | undefined {
  // --short (not --porcelain): paths relative to the checkout, ready for `git add` there.
  const r = spawnSync('git', ['-c', 'status.relativePaths=true', '-c', 'color.status=false', 'status', '--short', '--untracked-files=all', '--', '.'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  return r.stdout.split('\n').filter(Boolean);
}

export interface ScaleResult {
  readonly ok: boolean;
  readonly pool: string;
  readonly from: ReplicaValue;
  readonly to: ReplicaValue;
  /** One line: what happened. */
  readonly summary: string;
  /** raibid.yaml's diff (unified). */
  readonly diff: readonly string[];
  /** What synth printed: its summary, or the problems and the budget table. */
  readonly synth: readonly string[];
  /** `git status --short` after synth; undefined outside a git checkout. */
  readonly changes?: readonly string[];
  /** The commands to commit and push (empty when nothing changed or synth refused). */
  readonly commit: readonly string[];
}

/** The result as `raibid scale` prints it: diff, synth's summary, changed files, the commit to make. */
export function scaleReport(r: ScaleResult): string[] {
  if (!r.ok) return [...r.synth, '', `${CONFIG_FILE} is unchanged.`];
  if (r.diff.length === 0) return [];
  return [
    ...r.diff,
    '',
    ...r.synth.map((l) => `synth: ${l}`),
    ...(r.changes ? ['', 'Changed files:', ...r.changes.map((l) => `  ${l}`)] : []),
    '',
    'Nothing changes in the cluster until this is committed and pushed (Flux applies what is in Git; raibid never commits):',
    ...r.commit,
  ];
}

export interface ScaleOptions {
  /** The checkout's root (findCheckout). */
  readonly root: string;
  readonly pool: string;
  readonly target: ScaleTarget;
  readonly env: NodeJS.ProcessEnv;
  /** Called with a function that stops synth (the caller's Ctrl+C). */
  readonly onSynth?: (stop: () => void) => void;
}

/** Current maxReplicas of a pool, as a number where the plan knows it ("auto" → CAPACITY.md's pods). */
export function currentReplicas(root: string, pool: string): { written: ReplicaValue; planned?: number } {
  const file = join(root, CONFIG_FILE);
  if (!existsSync(file)) throw new ScaleError(`${file} does not exist, so the embedded defaults are in use: create it with the pool under agents.pools first (see CONFIG.md)`);
  const text = readFileSync(file, 'utf8');
  const entry = listPools(text, file).find((p) => p.name === pool);
  if (!entry) throw new ScaleError(`${file} has no pool ${JSON.stringify(pool)} (pools: ${listPools(text, file).map((p) => p.name).join(', ')})`);
  const written = entry.maxReplicas ?? 'auto';
  const capacity = join(root, CAPACITY_FILE);
  const planned = existsSync(capacity) ? plannedPods(readFileSync(capacity, 'utf8')).get(pool) : undefined;
  return { written, planned: typeof written === 'number' ? written : planned };
}

/** Edits raibid.yaml, runs synth, and keeps the edit only when synth accepts it. */
export async function scalePool(o: ScaleOptions): Promise<ScaleResult> {
  const file = join(o.root, CONFIG_FILE);
  const { written, planned } = currentReplicas(o.root, o.pool);
  let to: ReplicaValue;
  if (o.target.kind === 'set') to = o.target.value;
  else {
    if (planned === undefined) throw new ScaleError(`pool ${o.pool} has maxReplicas auto and ${CAPACITY_FILE} has no plan for it: give a number (raibid scale ${o.pool} N)`);
    to = planned + o.target.delta;
    if (to < MIN_REPLICAS || to > MAX_REPLICAS) throw new ScaleError(`pool ${o.pool} has ${planned} agents planned; ${to} is outside ${MIN_REPLICAS} to ${MAX_REPLICAS}`);
  }
  const from = written;
  if (to === from) return { ok: true, pool: o.pool, from, to, summary: `pool ${o.pool} already has maxReplicas ${to}; nothing changed`, diff: [], synth: [], commit: [] };
  const original = readFileSync(file);
  const text = original.toString('utf8');
  const edited = setMaxReplicas(text, o.pool, to, CONFIG_FILE);
  const diff = unifiedDiff(text, edited, CONFIG_FILE);
  writeFileSync(file, edited);
  let restore = true;
  let stop: (() => void) | undefined;
  // Ctrl+C, SIGTERM, a closed SSH session while synth runs: stop synth and put raibid.yaml back first.
  const onSignal = (signal: NodeJS.Signals) => {
    stop?.();
    writeFileSync(file, original);
    process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.once(s, onSignal);
  try {
    const synth = await runSynthCommand(o.root, o.env, (s) => {
      stop = s;
      o.onSynth?.(s);
    });
    if (synth.signal) return { ok: false, pool: o.pool, from, to, summary: `synth was stopped (${synth.signal}); ${CONFIG_FILE} is unchanged`, diff, synth: synth.output, commit: [] };
    if (synth.code !== 0) {
      // A config refusal lists `  <file>: <key>: <problem>` lines; a budget table, `  - <problem>` lines.
      const configLine = synth.output.find((l) => l.startsWith(`  ${file}: `))?.slice(`  ${file}: `.length);
      const firstProblem = configLine ?? synth.output.find((l) => /^\s+- /.test(l))?.trim().replace(/^- /, '') ?? synth.output.find((l) => l.trim() !== '') ?? `synth exited ${synth.code}`;
      return { ok: false, pool: o.pool, from, to, summary: `synth refused maxReplicas ${to} for pool ${o.pool}: ${firstProblem}; ${CONFIG_FILE} is unchanged`, diff, synth: synth.output, commit: [] };
    }
    restore = false;
    const changes = gitChanges(o.root);
    const paths = changes?.map((l) => l.slice(3).replace(/^.* -> /, '')) ?? [];
    const message = `Scale pool ${o.pool} to ${to === 'auto' ? 'auto' : `${to} agent${to === 1 ? '' : 's'}`}`;
    const commit = [
      changes ? `  git add -- ${paths.map((p) => (/^[\w./@+-]+$/.test(p) ? p : JSON.stringify(p))).join(' ')}` : `  git add -A   # ${CONFIG_FILE} and the files synth regenerated`,
      `  git commit -m ${JSON.stringify(message)}`,
      '  git push',
    ];
    return { ok: true, pool: o.pool, from, to, summary: `pool ${o.pool}: maxReplicas ${from} → ${to}; synth accepted it`, diff, synth: synth.output, changes, commit };
  } finally {
    for (const s of signals) process.off(s, onSignal);
    if (restore) writeFileSync(file, original);
  }
}

/** The checkout for `raibid scale` and the dashboard's +/-, from flags, environment and config file. */
export function checkoutFor(cwd: string, env: NodeJS.ProcessEnv, flag?: string, fromConfig?: string): { root?: string; tried: string } {
  const explicit = flag ?? env[CLI_ENV.checkout] ?? fromConfig;
  const root = findCheckout(cwd, explicit);
  const tried = explicit ? (isAbsolute(explicit) ? explicit : resolve(cwd, explicit)) : `${cwd} and the folders above it`;
  return { root, tried };
}
