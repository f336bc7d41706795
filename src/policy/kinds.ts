/**
 * The catalogue of Kubernetes kinds raibid-ci can validate.
 *
 * Built from the type declarations that kubernetes-models and its Flux and KEDA companions ship:
 * every `I<Kind> extends TypeMeta` interface with literal `apiVersion` and `kind` becomes an entry.
 * A document whose apiVersion/kind is not in this catalogue is rejected, never skipped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One validatable kind. */
export interface KindEntry {
  readonly apiVersion: string;
  readonly kind: string;
  /** Absolute path of the `.d.ts` that declares the interface. */
  readonly declarationFile: string;
  /** Name of the exported interface, e.g. `IDeployment`. */
  readonly interfaceName: string;
  /** Module specifier of the runtime model class (for kubernetes-models' compiled validator). */
  readonly moduleSpecifier: string;
}

/** Packages whose kinds are accepted. */
export const MODEL_PACKAGES = ['kubernetes-models', '@kubernetes-models/flux-cd', '@kubernetes-models/keda'] as const;

const require = createRequire(import.meta.url);
const TYPE_META = /export interface (I\w+) extends TypeMeta \{([\s\S]*?)\n\}/;
const API_VERSION = /^\s*"apiVersion": "([^"]+)";$/m;
const KIND = /^\s*"kind": "([^"]+)";$/m;

let catalogue: Map<string, KindEntry> | undefined;

/** Package root folder of an installed package. */
export function packageRoot(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

function scanPackage(pkg: string, into: Map<string, KindEntry>): void {
  const root = packageRoot(pkg);
  const versionDirs: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('_') || entry.name === 'node_modules') continue;
    const groupDir = join(root, entry.name);
    // The core group lives directly under `v1/`; named groups under `<group>/<version>/`.
    if (/^v\d/.test(entry.name)) versionDirs.push(groupDir);
    else for (const v of readdirSync(groupDir, { withFileTypes: true })) if (v.isDirectory() && /^v\d/.test(v.name)) versionDirs.push(join(groupDir, v.name));
  }
  for (const dir of versionDirs) {
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.d.ts') || file === 'index.d.ts' || file.endsWith('List.d.ts')) continue;
      const path = join(dir, file);
      const match = TYPE_META.exec(readFileSync(path, 'utf8'));
      const apiVersion = match && API_VERSION.exec(match[2])?.[1];
      const kind = match && KIND.exec(match[2])?.[1];
      if (!match || !apiVersion || !kind) continue;
      const interfaceName = match[1];
      const rel = path.slice(root.length + 1).replace(/\.d\.ts$/, '');
      into.set(key(apiVersion, kind), { apiVersion, kind, declarationFile: path, interfaceName, moduleSpecifier: `${pkg}/${rel}` });
    }
  }
}

function key(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

/** All known kinds, keyed by `apiVersion/kind`. */
export function kindCatalogue(): ReadonlyMap<string, KindEntry> {
  if (!catalogue) {
    catalogue = new Map();
    for (const pkg of MODEL_PACKAGES) scanPackage(pkg, catalogue);
  }
  return catalogue;
}

/** The entry for a document's apiVersion/kind, or undefined when the kind is unknown. */
export function lookupKind(apiVersion: unknown, kind: unknown): KindEntry | undefined {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  return kindCatalogue().get(key(apiVersion, kind));
}

