/**
 * docs/break-glass.md names Flux objects, workloads and folders in commands an operator runs while Gitea
 * is down. These tests parse every command of the document and check each name against the synthesized
 * tree of the default config, so a rename that would break the procedure fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { synthFiles, type K8sObject } from './helpers.js';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'break-glass.md'), 'utf8');
const files = synthFiles();
const objects: K8sObject[] = [...files.entries()]
  .filter(([path]) => path.endsWith('.yaml') && !path.endsWith('kustomization.yaml') && !path.startsWith('dist/'))
  .flatMap(([, text]) => text.split(/^---$/m).map((d) => parse(d) as K8sObject | null))
  .filter((o): o is K8sObject => !!o?.kind);
const has = (kind: string, name: string, namespace: string) => objects.some((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);

/** Every line of the shell blocks, and every inline `flux …` command of the prose. */
const commands = [
  ...[...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n')),
  ...[...doc.matchAll(/`(flux [^`]+)`/g)].map((m) => m[1]),
].filter((l) => l.trim() !== '');

const KINDS: Record<string, string> = { kustomization: 'Kustomization', gitrepository: 'GitRepository', 'source git': 'GitRepository', deployment: 'Deployment', statefulset: 'StatefulSet' };

describe('docs/break-glass.md', () => {
  it('names only objects that exist, in their namespaces', () => {
    const named: string[] = [];
    for (const line of commands) {
      let m = /^kubectl -n (\S+) (?:patch|annotate --overwrite) (kustomization|gitrepository) (\S+)/.exec(line);
      if (m) named.push(`${KINDS[m[2]]}/${m[1]}/${m[3]}`);
      m = /^kubectl -n (\S+) rollout (?:undo|status) (deployment|statefulset)\/(\S+)/.exec(line);
      if (m) named.push(`${KINDS[m[2]]}/${m[1]}/${m[3]}`);
      m = /^flux (?:suspend|resume|reconcile) (kustomization|source git) (\S+) -n (\S+)$/.exec(line);
      if (m) named.push(`${KINDS[m[1]]}/${m[3]}/${m[2]}`);
    }
    expect(new Set(named)).toEqual(
      new Set(['Kustomization/flux-system/infra-configs', 'GitRepository/flux-system/flux-system', 'Deployment/infrastructure/gitea', 'StatefulSet/infrastructure/gitea-postgres']),
    );
    for (const n of named) {
      const [kind, namespace, name] = n.split('/');
      expect(has(kind, name, namespace), n).toBe(true);
    }
  });

  it('suspends the Kustomization that applies Gitea and PostgreSQL', () => {
    const ks = objects.find((o) => o.kind === 'Kustomization' && o.metadata.name === 'infra-configs')!;
    const folder = (ks.spec.path as string).replace(/^\.\//, '');
    const under = (kind: string, name: string) => [...files.entries()].some(([p, text]) => p.startsWith(`${folder}/`) && text.includes(`kind: ${kind}\n`) && text.includes(`  name: ${name}\n`));
    expect(under('Deployment', 'gitea')).toBe(true);
    expect(under('StatefulSet', 'gitea-postgres')).toBe(true);
  });

  it('applies a Gitea folder that the tree has and that holds Gitea', () => {
    const folders = commands.flatMap((l) => [.../-k \S*?\/(infrastructure\/\S+)/.exec(l)?.slice(1) ?? []]);
    expect(folders).toEqual(['infrastructure/configs/gitea']);
    expect(files.has(`${folders[0]}/kustomization.yaml`)).toBe(true);
    expect(files.has(`${folders[0]}/deployment-gitea.yaml`)).toBe(true);
    expect(files.has(`${folders[0]}/statefulset-gitea-postgres.yaml`)).toBe(true);
  });

  it('can rely on a manual suspend: no Kustomization in git declares spec.suspend', () => {
    const kustomizations = objects.filter((o) => o.kind === 'Kustomization');
    expect(kustomizations.length).toBe(5);
    for (const k of kustomizations) expect(k.spec.suspend, k.metadata.name).toBeUndefined();
  });

  it('pushes to the branch Flux follows', () => {
    const branch = objects.find((o) => o.kind === 'GitRepository' && o.metadata.name === 'flux-system')!.spec.ref.branch;
    expect(commands).toContain(`git push gitea ${branch}`);
  });

  it('is linked from the README and docs/bootstrap.md', () => {
    expect(readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')).toContain('(docs/break-glass.md)');
    expect(readFileSync(join(import.meta.dirname, '..', 'docs', 'bootstrap.md'), 'utf8')).toContain('(break-glass.md)');
  });
});
