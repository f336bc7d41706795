/** Shared test helpers: synthesize in memory and pick objects out of the result. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../src/config/loader.js';
import type { RaibidConfig } from '../src/config/resolve.js';
import { synthesize, synthesizeText } from '../src/synth.js';
import { parseYaml } from '../src/policy/documents.js';
import { writeTree } from '../src/gitops/write.js';
import { GENERATED_ROOTS } from '../src/gitops/render.js';

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

const cache = new Map<string, Map<string, string>>();

/**
 * A config without BuildKit: the images raibid-ci builds in the cluster need it, so the API and the pool
 * run images of their own (synth refuses the default images without BuildKit).
 */
export const OWN_IMAGES_WITHOUT_BUILDKIT = [
  'api:',
  '  image: registry.example/ci/raibid-api:1.0.0',
  'agents:',
  '  pools:',
  '    - name: rust',
  '      stream: ci-jobs',
  '      image: registry.example/ci/agent-rust:1.0.0',
  'buildkit:',
  '  enabled: false',
  '',
].join('\n');

/**
 * A config with `gitea.registry.tls` on. raibid.yaml refuses it until raibid-ci provisions a certificate;
 * the code paths that already honour it are tested with this.
 */
export function withRegistryTls(c: RaibidConfig): RaibidConfig {
  return { ...c, gitea: { ...c.gitea, registry: { ...c.gitea.registry, tls: true } } };
}

/** Config from YAML text (defaults when empty). */
/** raibid.yaml with one pool of each mode (ephemeral rust, pooled lint, direct deploy). */
export const MIXED_POOLS = `agents:
  pools:
    - name: rust
      stream: ci-jobs
    - name: lint
      mode: pooled
      slots: 4
      cpu: "1"
      memory: 2Gi
      maxReplicas: 2
    - name: deploy
      mode: direct
      cpu: 500m
      memory: 1Gi
      maxReplicas: 2
`;

/** The problems parseConfig lists for `yaml` (as raibid.yaml); none when it is valid. */
export function configProblems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'raibid.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

export function config(yaml = ''): RaibidConfig {
  return parseConfig(yaml, 'raibid.yaml');
}

/** Every generated file for a config given as YAML text; cached per text. */
export function synthFiles(yaml = ''): Map<string, string> {
  let files = cache.get(yaml);
  if (!files) {
    files = synthesize(config(yaml)).files;
    cache.set(yaml, files);
  }
  return files;
}

/** Every object under a folder prefix (e.g. `infrastructure/configs/redis/`), kustomization.yaml excluded. */
export function objectsUnder(prefix: string, yaml = ''): K8sObject[] {
  const out: K8sObject[] = [];
  for (const [path, text] of synthFiles(yaml)) {
    if (!path.startsWith(prefix) || !path.endsWith('.yaml') || path.endsWith('/kustomization.yaml') || path.startsWith('dist/')) continue;
    out.push(...(parseYaml(text, path) as K8sObject[]));
  }
  return out;
}

/** All cluster objects of the Flux tree. */
export function allObjects(yaml = ''): K8sObject[] {
  return ['clusters/', 'infrastructure/', 'apps/'].flatMap((p) => objectsUnder(p, yaml));
}

/** The one object of a kind and name (optionally namespace); fails the test when absent. */
export function findObject(objs: readonly K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const hit = objs.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  if (!hit) throw new Error(`no ${kind}/${name}${namespace ? ` in ${namespace}` : ''} among: ${objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return hit;
}

/** Synthesizes into a fresh temporary folder (as npm run synth would) and returns its path. */
export function synthToTemp(yaml = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-test-'));
  writeTree(dir, synthFiles(yaml), GENERATED_ROOTS);
  return dir;
}

/** Removes a temporary folder. */
export function removeTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Pod spec of any workload-like object (Deployment, StatefulSet, Job, CronJob, ScaledJob). */
export function podSpecOf(o: K8sObject): Record<string, any> {
  switch (o.kind) {
    case 'CronJob':
      return o.spec.jobTemplate.spec.template.spec;
    case 'ScaledJob':
      return o.spec.jobTargetRef.template.spec;
    default:
      return o.spec.template.spec;
  }
}

/** The message synth fails with for a config (fails the test when synth succeeds). */
/** The message `npm run synth` prints for a config it refuses: every problem, capacity included. */
export function refusal(yaml: string): string {
  try {
    synthesizeText(yaml, 'raibid.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected synth to refuse the config');
}

export function synthError(yaml: string): string {
  try {
    synthFiles(yaml);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected synth to fail');
}
