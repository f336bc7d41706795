/**
 * Runs the Pulumi bootstrap program under `pulumi.runtime.setMocks` and records what the engine would
 * see for every resource: type, name, parent, inputs (secrets kept marked), dependencies (as sent in
 * the RegisterResource request, so explicit `dependsOn` and input-derived ones alike) and which outputs
 * are declared secret. Mock values carry recognisable markers so tests can search for leaks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parseAllDocuments } from 'yaml';
import type { RaibidConfig } from '../src/config/resolve.js';
import type { Manifest } from '../src/gitops/render.js';
import type { RepoSnapshot } from '../src/bootstrap/repo-snapshot.js';

/** Marker prefixes of every mock credential. */
export const MARKERS = ['MOCKRANDOM', 'MOCKTOKEN', 'MOCKKUBECONFIGKEY', 'MOCKPRIVATEKEY'] as const;

export const MOCK_PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nMOCKPRIVATEKEY0123456789\n-----END OPENSSH PRIVATE KEY-----\n';

/** A real ed25519 public key (throwaway), as `raibid-ci:hostKey` holds it. */
export const MOCK_HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHevu6jwaK5daREKZFw5mfRGGw8iRZx9Ll3DL6macyOQ';

export const MOCK_KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
  - name: default
    cluster:
      certificate-authority-data: MOCKKUBECONFIGKEYca
      server: https://127.0.0.1:6443
contexts:
  - name: default
    context: { cluster: default, user: default }
current-context: default
users:
  - name: default
    user:
      client-certificate-data: MOCKKUBECONFIGKEYcert
      client-key-data: MOCKKUBECONFIGKEYkey
`;

export const MOCK_FACTS = 'arch=aarch64\ncores=20\nmemory_kib=130000000\ndisk_path=/var/lib\ndisk_kib=4400000000\nos=ubuntu 24.04\n';

/** A resource as registered. */
export interface Registered {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Parent URN ('' for none). */
  readonly parent: string;
  /** URNs this resource depends on, provider included. */
  readonly deps: readonly string[];
  /** Inputs; secret values stay wrapped as `{ [sigKey]: secretSig, value }`. */
  readonly inputs: Record<string, unknown>;
  readonly additionalSecretOutputs: readonly string[];
  readonly retainOnDelete: boolean;
  readonly deleteBeforeReplace: boolean;
  readonly protect: boolean;
  /** Inputs whose changes the engine ignores (`ignoreChanges`). */
  readonly ignoreChanges: readonly string[];
}

const SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

/** True for a secret value as deserialized by the mock monitor. */
export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with every secret wrapper removed (for reading the data a test checks). */
export function unwrapSecrets(v: unknown): unknown {
  if (isSecretValue(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** The value with every secret part replaced by "[secret]" (what ends up in plain text). */
export function withoutSecrets(v: unknown): unknown {
  if (isSecretValue(v)) return '[secret]';
  if (Array.isArray(v)) return v.map(withoutSecrets);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutSecrets(x)]));
  return v;
}

function stdoutFor(name: string): string {
  if (name.endsWith('-preflight-check')) return MOCK_FACTS;
  if (name.endsWith('-kubeconfig-read')) return MOCK_KUBECONFIG;
  if (name.includes('-tokens-')) return `MOCKTOKEN${name}`;
  return '';
}

/** Installs the mocks and the recorder; returns the live list of registered resources. */
export async function installMocks(stack = 'test'): Promise<Registered[]> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'random:index/randomPassword:RandomPassword') state.result = `MOCKRANDOM${args.name}`;
        if (args.type === 'command:remote:Command') {
          state.stdout = stdoutFor(args.name);
          state.stderr = '';
        }
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        if (args.token === 'kubernetes:yaml:decode') return { result: parseAllDocuments(String(args.inputs.text)).map((d) => d.toJS()) };
        return {};
      },
    },
    'raibid-ci',
    stack,
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: any, cb: (err: unknown, resp: any) => void) => void };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    original(req, (err, resp) => {
      if (!err && resp) {
        const provider: string = req.getProvider();
        registered.push({
          urn: resp.getUrn(),
          type: req.getType(),
          name: req.getName(),
          custom: req.getCustom(),
          parent: req.getParent(),
          deps: [...req.getDependenciesList(), ...(provider ? [provider.slice(0, provider.lastIndexOf('::'))] : [])],
          inputs: pulumi.runtime.deserializeProperties(req.getObject()) as Record<string, unknown>,
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
          retainOnDelete: req.getRetainondelete() === true,
          deleteBeforeReplace: req.getDeletebeforereplace(),
          protect: req.getProtect() === true,
          ignoreChanges: req.getIgnorechangesList(),
        });
      }
      cb(err, resp);
    });
  };
  return registered;
}

/** Waits until every resource registration has gone through the mock monitor. */
export async function settle(): Promise<void> {
  await pulumi.runtime.disconnect();
}

/** A repository snapshot that touches no git repository. */
export function fakeSnapshot(_root: string, c: RaibidConfig): RepoSnapshot {
  return { branch: c.flux.branch, commit: '0123456789abcdef0123456789abcdef01234567', bundlePath: '/tmp/raibid-ci-test.bundle' };
}

/** Writes a private key file the stack config can point at; returns its path. */
export function writeKeyFile(dir: string, text = MOCK_PRIVATE_KEY): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'id_ed25519');
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** Objects standing in for a complete bootstrap bundle (the real one grows as components land). */
export function sampleBundle(c: RaibidConfig): Manifest[] {
  const ns = c.namespaces.infrastructure;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: c.storage.retainClass }, provisioner: 'rancher.io/local-path', reclaimPolicy: 'Retain' },
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'gitea-data', namespace: ns }, spec: { storageClassName: c.storage.retainClass } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'gitea-http', namespace: ns }, spec: { ports: [{ port: 3000 }] } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'gitea', namespace: ns }, spec: { selector: { matchLabels: { app: 'gitea' } }, template: { metadata: { labels: { app: 'gitea' } }, spec: { containers: [{ name: 'gitea', image: c.gitea.image }] } } } },
  ] as Manifest[];
}

/** Transitive dependency closure: URN → every URN it (indirectly) depends on, parents' dependencies excluded. */
export function dependencyClosure(resources: readonly Registered[]): Map<string, Set<string>> {
  const direct = new Map(resources.map((r) => [r.urn, r.deps]));
  const children = new Map<string, string[]>();
  for (const r of resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r.urn]);
  // Depending on a component means depending on everything below it.
  const expand = (urn: string, out: Set<string>) => {
    for (const c of children.get(urn) ?? []) if (!out.has(c)) (out.add(c), expand(c, out));
  };
  const memo = new Map<string, Set<string>>();
  const visit = (urn: string, stack: Set<string>): Set<string> => {
    const known = memo.get(urn);
    if (known) return known;
    if (stack.has(urn)) throw new Error(`dependency cycle through ${urn}`);
    stack.add(urn);
    const out = new Set<string>();
    for (const d of direct.get(urn) ?? []) {
      const targets = new Set([d]);
      expand(d, targets);
      for (const t of targets) {
        out.add(t);
        for (const x of visit(t, stack)) out.add(x);
      }
    }
    stack.delete(urn);
    memo.set(urn, out);
    return out;
  };
  return new Map(resources.map((r) => [r.urn, visit(r.urn, new Set())]));
}
