/**
 * The validation gate: schema, policy and kustomize checks over generated YAML. Used by the tests
 * and by `npm run validate`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { RaibidConfig } from '../config/resolve.js';
import { GENERATED_HEADER } from '../gitops/render.js';
import { isKustomizeConfig, loadDocuments, yamlFiles, type LoadedDocument } from './documents.js';
import type { Finding } from './finding.js';
import { kustomizeBuild } from './kustomize.js';
import { validateSchema } from './schema.js';
import { checkPolicies } from './rules/index.js';

const KUSTOMIZE_KEYS = new Set(['apiVersion', 'kind', 'resources', 'sortOptions', 'namespace', 'labels', 'commonAnnotations']);

function checkKustomizeConfig(d: LoadedDocument): Finding[] {
  const doc = d.doc as Record<string, unknown>;
  const out: Finding[] = [];
  const object = `Kustomization(kustomize)/${d.file}`;
  if (doc.kind !== 'Kustomization') out.push({ rule: 'schema', where: d.where, object, path: 'kind', message: `expected "Kustomization", got ${JSON.stringify(doc.kind)}` });
  for (const k of Object.keys(doc)) if (!KUSTOMIZE_KEYS.has(k)) out.push({ rule: 'schema', where: d.where, object, path: k, message: `unknown field "${k}" in a kustomization.yaml` });
  if (!Array.isArray(doc.resources) || doc.resources.some((r) => typeof r !== 'string')) out.push({ rule: 'schema', where: d.where, object, path: 'resources', message: 'expected a list of file or folder names' });
  return out;
}

/** Schema-validates documents (kustomize config files get a shape check of their own). */
export async function schemaFindings(docs: readonly LoadedDocument[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const d of docs) out.push(...(isKustomizeConfig(d.doc) ? checkKustomizeConfig(d) : await validateSchema(d.doc, d.where)));
  return out;
}

/** Every Flux Kustomization's path must build with kubectl kustomize. */
export function kustomizeFindings(docs: readonly LoadedDocument[], repoRoot: string): Finding[] {
  const out: Finding[] = [];
  for (const d of docs) {
    const doc = d.doc as { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: { path?: string } };
    if (doc.apiVersion !== 'kustomize.toolkit.fluxcd.io/v1' || doc.kind !== 'Kustomization') continue;
    const path = doc.spec?.path ?? '.';
    const build = kustomizeBuild(join(repoRoot, path));
    if (!build.ok) out.push({ rule: 'kustomize-build', where: d.where, object: `Kustomization/${doc.metadata?.name ?? '?'}`, path: 'spec.path', message: `kubectl kustomize ${path} failed: ${build.error}` });
  }
  return out;
}

/** Every generated file must start with the generated header. */
export function headerFindings(files: readonly string[], base: string): Finding[] {
  return files
    .filter((f) => !readFileSync(f, 'utf8').startsWith(GENERATED_HEADER))
    .map((f) => ({ rule: 'generated-header', where: relative(base, f), object: '-', path: '', message: `does not start with the generated header; files here are written by npm run synth` }));
}

export interface GateOptions {
  readonly config: RaibidConfig;
  /** Repository root that Flux Kustomization paths are relative to. */
  readonly repoRoot: string;
  /** Folders or files to check. @default clusters, infrastructure and apps under repoRoot */
  readonly paths?: readonly string[];
}

/** Runs every check; an empty result means the tree may be committed. */
export async function runGate(opts: GateOptions): Promise<Finding[]> {
  const root = resolve(opts.repoRoot);
  const tree = ['clusters', 'infrastructure', 'apps'].map((p) => join(root, p)).filter((p) => existsSync(p));
  const paths = (opts.paths ?? tree).filter((p) => existsSync(p));
  const docs = loadDocuments(paths, root);
  // Cross-object rules (a Service's pods, a namespace's default deny) need the whole tree as context
  // even when only part of it is checked; findings are reported for the checked part only.
  const checked = new Set(docs.map((d) => d.where));
  const context = opts.paths ? [...docs, ...loadDocuments(tree, root).filter((d) => !checked.has(d.where))] : docs;
  const objects = context.filter((d) => !isKustomizeConfig(d.doc));
  return [
    ...headerFindings(paths.flatMap((p) => yamlFiles(p)), root),
    ...(await schemaFindings(docs)),
    ...checkPolicies(objects, opts.config).filter((f) => checked.has(f.where) || !f.where.includes('#')),
    ...kustomizeFindings(docs, root),
  ];
}
