/**
 * The synthesized objects bootstrap applies, read from the bootstrap commit (repo-snapshot.ts; a folder
 * in tests), never a second copy:
 *
 *   dist/bootstrap.k8s.yaml   namespaces, storage classes, Gitea and PostgreSQL (BOOTSTRAP_BUNDLE)
 *   clusters/<name>/          the flux-system GitRepository and root Kustomization (FLUX_SOURCE)
 *
 * Both are produced by `npm run synth`; a missing file fails with that instruction.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { folderTree, type SourceTree } from './repo-snapshot.js';
import { BOOTSTRAP_BUNDLE, type Manifest } from '../gitops/render.js';
import { FLUX_NAMESPACE, FLUX_SOURCE } from '../gitops/cluster.js';
import { parseYaml } from '../policy/documents.js';

const treeOf = (source: string | SourceTree): SourceTree => (typeof source === 'string' ? folderTree(source) : source);

/** What to do when a synthesized file is missing from the tree. */
function missing(tree: SourceTree, path: string, why: string): Error {
  const fix = tree.name.startsWith('commit ') ? `run \`npm run synth\` and commit the result` : 'run `npm run synth` first';
  return new Error(`${path} is missing in ${tree.name}: ${fix} (${why})`);
}

/** Kinds applied before the Secrets: what everything else lives in or binds to. */
export const FOUNDATION_KINDS: readonly string[] = ['Namespace', 'StorageClass', 'PriorityClass'];

function isManifest(doc: unknown): doc is Manifest {
  const d = doc as Partial<Manifest> | null;
  return typeof d === 'object' && d !== null && typeof d.apiVersion === 'string' && typeof d.kind === 'string' && typeof d.metadata?.name === 'string';
}

/** Every object of dist/bootstrap.k8s.yaml in the tree (a folder path, or the bootstrap commit). */
export function readBootstrapBundle(source: string | SourceTree): Manifest[] {
  const tree = treeOf(source);
  const text = tree.read(BOOTSTRAP_BUNDLE);
  if (text === undefined) throw missing(tree, BOOTSTRAP_BUNDLE, 'bootstrap applies the synthesized namespaces, storage classes, Gitea and PostgreSQL from it');
  const docs = parseYaml(text, BOOTSTRAP_BUNDLE);
  return docs.map((doc, i) => {
    if (!isManifest(doc)) throw new Error(`${BOOTSTRAP_BUNDLE}#${i}: not a Kubernetes object (apiVersion, kind and metadata.name are required); run \`npm run synth\` again`);
    if (doc.kind === 'Secret') throw new Error(`${BOOTSTRAP_BUNDLE}#${i}: Secret ${doc.metadata.name} must not be synthesized; bootstrap creates Secrets from src/secrets/catalog.ts`);
    return doc;
  });
}

/** The bundle split into what goes before the Secrets (namespaces, storage classes) and the rest. */
export function splitBundle(objs: readonly Manifest[]): { foundation: Manifest[]; platform: Manifest[] } {
  return {
    foundation: objs.filter((o) => FOUNDATION_KINDS.includes(o.kind)),
    platform: objs.filter((o) => !FOUNDATION_KINDS.includes(o.kind)),
  };
}

/** The synthesized flux-system GitRepository and root Kustomization of clusters/<name>/, in that order. */
export function readFluxSync(source: string | SourceTree, c: RaibidConfig): Manifest[] {
  const tree = treeOf(source);
  const files = tree.yamlFiles(`clusters/${c.cluster.name}`);
  if (files.length === 0) throw missing(tree, `clusters/${c.cluster.name}/`, 'bootstrap applies the Flux sync objects from it');
  const objs = files
    .filter((f) => !f.endsWith('/kustomization.yaml'))
    .flatMap((f) => parseYaml(tree.read(f) ?? '', f))
    .filter(isManifest);
  const pick = (kind: string): Manifest => {
    const hit = objs.find((o) => o.kind === kind && o.metadata.name === FLUX_SOURCE && o.metadata.namespace === FLUX_NAMESPACE);
    if (!hit) throw new Error(`clusters/${c.cluster.name}/ has no ${kind} ${FLUX_NAMESPACE}/${FLUX_SOURCE}; run \`npm run synth\` again`);
    return hit;
  };
  return [pick('GitRepository'), pick('Kustomization')];
}
