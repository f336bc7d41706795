/**
 * Strict schema validation of Kubernetes documents.
 *
 * Two layers, both offline:
 *  1. kubernetes-models' compiled validators (types, enums, formats, required fields);
 *  2. a strict walk over the TypeScript declarations of the same packages, through the TypeScript
 *     compiler API: every key of the document must be a declared property of its type at that depth
 *     (the compiled validators accept unknown fields), values must have the declared primitive type,
 *     required properties must be present, and every container must name an image.
 */
import ts from 'typescript';
import { kindCatalogue, lookupKind, type KindEntry } from './kinds.js';
import type { Finding } from './finding.js';


/** Properties that the API marks optional but that raibid-ci requires, by declared type name. */
const REQUIRED_EXTRA: Readonly<Record<string, readonly string[]>> = {
  IIoK8sApiCoreV1Container: ['image'],
  IContainer: ['image'],
};

interface TypeEnv {
  readonly program: ts.Program;
  readonly checker: ts.TypeChecker;
  readonly roots: Map<string, ts.Type>;
}

let env: TypeEnv | undefined;

/** One program over every catalogued kind's declaration; built once per process (~1 s). */
function typeEnv(): TypeEnv {
  if (env) return env;
  const entries = [...kindCatalogue().values()];
  const program = ts.createProgram({
    rootNames: [...new Set(entries.map((e) => e.declarationFile))],
    options: {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      lib: ['lib.es2020.d.ts'],
      types: [],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    },
  });
  env = { program, checker: program.getTypeChecker(), roots: new Map() };
  return env;
}

function rootType(entry: KindEntry): ts.Type {
  const e = typeEnv();
  const cached = e.roots.get(entry.declarationFile + '#' + entry.interfaceName);
  if (cached) return cached;
  const source = e.program.getSourceFile(entry.declarationFile);
  const moduleSymbol = source && e.checker.getSymbolAtLocation(source);
  const symbol = moduleSymbol && e.checker.getExportsOfModule(moduleSymbol).find((s) => s.name === entry.interfaceName);
  if (!symbol) throw new Error(`internal: no declaration ${entry.interfaceName} in ${entry.declarationFile}`);
  const type = e.checker.getDeclaredTypeOfSymbol(symbol);
  e.roots.set(entry.declarationFile + '#' + entry.interfaceName, type);
  return type;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_][\w]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

/** Walks `value` against `type`, appending problems to `out` (path, message). */
function walk(checker: ts.TypeChecker, value: unknown, type: ts.Type, path: string, out: [string, string][]): void {
  const f = type.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (type.isUnion()) {
    const members = type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
    if (value === null && members.length !== type.types.length) return;
    let best: [string, string][] | undefined;
    for (const m of members) {
      const trial: [string, string][] = [];
      walk(checker, value, m, path, trial);
      if (trial.length === 0) return;
      if (!best || trial.length < best.length) best = trial;
    }
    if (members.every((m) => m.isLiteral() || m.flags & ts.TypeFlags.BooleanLiteral)) {
      const allowed = members.map((m) => (m.isLiteral() ? JSON.stringify(m.value) : checker.typeToString(m)));
      out.push([path, `expected one of ${allowed.join(', ')}, got ${describe(value)}`]);
      return;
    }
    out.push(...(best ?? [[path, `unexpected ${describe(value)}`]]));
    return;
  }
  if (f & ts.TypeFlags.StringLike) {
    if (typeof value !== 'string') out.push([path, `expected a string, got ${describe(value)}`]);
    else if (type.isStringLiteral() && value !== type.value) out.push([path, `expected "${type.value}", got ${describe(value)}`]);
    return;
  }
  if (f & ts.TypeFlags.NumberLike) {
    if (typeof value !== 'number') out.push([path, `expected a number, got ${describe(value)}`]);
    return;
  }
  if (f & ts.TypeFlags.BooleanLike) {
    if (typeof value !== 'boolean') out.push([path, `expected a boolean, got ${describe(value)}`]);
    else if (f & ts.TypeFlags.BooleanLiteral && checker.typeToString(type) !== String(value)) out.push([path, `expected ${checker.typeToString(type)}, got ${value}`]);
    return;
  }
  if (checker.isArrayType(type) || checker.isTupleType(type)) {
    if (!Array.isArray(value)) {
      out.push([path, `expected an array, got ${describe(value)}`]);
      return;
    }
    const element = checker.getTypeArguments(type as ts.TypeReference)[0];
    value.forEach((item, i) => walk(checker, item, element, joinPath(path, i), out));
    return;
  }
  if (f & ts.TypeFlags.Object || type.isIntersection()) {
    if (!isPlainObject(value)) {
      out.push([path, `expected an object, got ${describe(value)}`]);
      return;
    }
    const props = checker.getPropertiesOfType(type);
    const byName = new Map(props.map((p) => [p.name, p]));
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    // An interface with no members stands for free-form JSON (x-kubernetes-preserve-unknown-fields),
    // e.g. a HelmRelease's values: anything goes inside it.
    if (props.length === 0 && !index) return;
    for (const [key, child] of Object.entries(value)) {
      const prop = byName.get(key);
      if (prop) walk(checker, child, checker.getTypeOfSymbol(prop), joinPath(path, key), out);
      else if (index) walk(checker, child, index.type, joinPath(path, key), out);
      else out.push([joinPath(path, key), `unknown field "${key}" (allowed: ${[...byName.keys()].sort().join(', ') || 'none'})`]);
    }
    const typeName = type.aliasSymbol?.name ?? type.getSymbol()?.name ?? '';
    const extra = REQUIRED_EXTRA[typeName] ?? [];
    for (const prop of props) {
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0 && !extra.includes(prop.name);
      if (!optional && value[prop.name] === undefined) out.push([joinPath(path, prop.name), 'required field is missing']);
    }
    return;
  }
  // Any other type (never, void, symbols…) cannot come from YAML.
  out.push([path, `unexpected ${describe(value)}`]);
}

/** Runs kubernetes-models' compiled validator for the kind; returns its complaints. */
async function compiledValidation(entry: KindEntry, doc: Record<string, unknown>): Promise<[string, string][]> {
  const mod = (await import(entry.moduleSpecifier)) as Record<string, unknown>;
  const Model = mod[entry.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (!Model) return [['', `internal: no model class ${entry.kind} in ${entry.moduleSpecifier}`]];
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: { instancePath?: string; message?: string }[] }).errors ?? [];
    if (details.length === 0) return [['', String((err as Error).message ?? err)]];
    return details.map((d) => [
      (d.instancePath ?? '').split('/').filter(Boolean).reduce<string>((p, k) => joinPath(p, /^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')), ''),
      d.message ?? 'invalid',
    ]);
  }
}

/**
 * Validates one document strictly. Returns findings with rule `schema`; an empty array means valid.
 * @param where a label for messages, e.g. `apps/agents/deployment-api.yaml#0`.
 */
export async function validateSchema(doc: unknown, where: string): Promise<Finding[]> {
  if (!isPlainObject(doc)) return [{ rule: 'schema', where, object: '?', path: '', message: `expected a Kubernetes object, got ${describe(doc)}` }];
  const object = `${String(doc.kind)}/${String((doc.metadata as { name?: unknown } | undefined)?.name ?? '?')}`;
  const entry = lookupKind(doc.apiVersion, doc.kind);
  if (!entry) {
    return [{ rule: 'schema', where, object, path: 'kind', message: `unknown apiVersion/kind "${String(doc.apiVersion)}/${String(doc.kind)}": not a kind of Kubernetes, Flux or KEDA known to the validator` }];
  }
  const problems: [string, string][] = [];
  walk(typeEnv().checker, doc, rootType(entry), '', problems);
  // The compiled validator repeats many of the strict walk's complaints in vaguer words: keep its
  // findings only for paths the walk did not already explain.
  const explained = new Set(problems.map(([p]) => p));
  problems.push(...(await compiledValidation(entry, doc)).filter(([p]) => !explained.has(p)));
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const [path, message] of problems) {
    const k = path + '\u0000' + message;
    if (seen.has(k)) continue;
    seen.add(k);
    findings.push({ rule: 'schema', where, object, path, message });
  }
  return findings;
}
