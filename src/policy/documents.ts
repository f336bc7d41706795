/** Reading generated YAML back: every document of every .yaml file under some folders. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface LoadedDocument {
  /** `path#index`, relative to the base folder. */
  readonly where: string;
  /** File path relative to the base folder. */
  readonly file: string;
  readonly doc: unknown;
}

/** Every `.yaml`/`.yml` file below `dir`, sorted. */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(p);
    }
  };
  if (statSync(dir).isDirectory()) visit(dir);
  else out.push(dir);
  return out;
}

/** Parses YAML text into documents; a syntax error becomes a thrown Error naming the file. */
export function parseYaml(text: string, file: string): unknown[] {
  return parseAllDocuments(text).flatMap((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file}#${i}: ${d.errors[0].message}`);
    const js = d.toJS() as unknown;
    return js === null || js === undefined ? [] : [js];
  });
}

/** Loads every document below the given folders (paths in `where` are relative to `base`). */
export function loadDocuments(paths: readonly string[], base = process.cwd()): LoadedDocument[] {
  const docs: LoadedDocument[] = [];
  for (const p of paths) {
    for (const file of yamlFiles(p)) {
      const rel = relative(base, file);
      parseYaml(readFileSync(file, 'utf8'), rel).forEach((doc, i) => docs.push({ where: `${rel}#${i}`, file: rel, doc }));
    }
  }
  return docs;
}

/** True for kustomize's own config files, which are not cluster objects. */
export function isKustomizeConfig(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { apiVersion?: unknown }).apiVersion === 'kustomize.config.k8s.io/v1beta1';
}
