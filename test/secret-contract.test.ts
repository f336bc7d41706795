/**
 * The secret contract: the Secret keys the synthesized manifests read are exactly the keys the Pulumi
 * bootstrap creates. Key-exact, including Secrets mounted as directories (Gitea, PostgreSQL and the Redis
 * ACL script read files): no key read without being created (a pod stuck in CreateContainerConfigError,
 * or Gitea starting on an empty secret file), no key created that nothing reads (a credential lying
 * around). Mutation tests rename and drop every catalogue key in turn and expect the check to fail.
 */
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeSnapshot, installMocks, MOCK_HOST_KEY, MOCK_PRIVATE_KEY, type Registered, settle, unwrapSecrets } from './bootstrap-harness.js';
import { readBootstrapBundle, readFluxSync } from '../src/bootstrap/manifests.js';
import { allObjects, config, type K8sObject, removeTemp, synthToTemp } from './helpers.js';
import { contractProblems, scanSecretReferences, type SecretKeys, type SecretScan } from './secret-references.js';
import { SECRETS, secretNamespace, type SecretSpec } from '../src/secrets/catalog.js';

const c = config();
let resources: Registered[];
let dir: string;

/** (namespace, name) → keys, for every Secret the bootstrap program creates. */
function createdSecrets(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of resources.filter((x) => x.type === 'kubernetes:core/v1:Secret')) {
    const { metadata, stringData, data } = unwrapSecrets(r.inputs) as { metadata: { name: string; namespace: string }; stringData?: object; data?: object };
    out.set(`${metadata.namespace}/${metadata.name}`, new Set([...Object.keys(stringData ?? {}), ...Object.keys(data ?? {})]));
  }
  return out;
}

/** (namespace, name) → keys of a catalogue (the real one, or a mutated copy). */
function catalogueSecrets(specs: readonly SecretSpec[]): SecretKeys {
  return new Map(specs.map((s) => [`${secretNamespace(c, s)}/${s.name}`, new Set(Object.keys(s.keys))]));
}

/** (namespace, name) → the keys a catalogue reserves for bootstrap (readByBootstrapOnly). */
function bootstrapOnly(specs: readonly SecretSpec[]): SecretKeys {
  return new Map(specs.filter((s) => s.readByBootstrapOnly?.length).map((s) => [`${secretNamespace(c, s)}/${s.name}`, new Set(s.readByBootstrapOnly)]));
}
const reserved = bootstrapOnly(SECRETS);

/** Every object the cluster gets: the Flux tree and the bootstrap bundle Pulumi applies. */
function clusterObjects(): K8sObject[] {
  return [...allObjects(), ...(readBootstrapBundle(dir) as K8sObject[])];
}

let unedited: SecretScan | undefined;
/** The references of the given objects (default: the unedited cluster objects, scanned once). */
const scan = (objs?: readonly K8sObject[]): SecretScan => (objs ? scanSecretReferences(objs, c.namespaces.keda) : (unedited ??= scanSecretReferences(clusterObjects(), c.namespaces.keda)));

beforeAll(async () => {
  resources = await installMocks();
  dir = synthToTemp();
  const program = await import('../src/bootstrap/program.js');
  // The real synth output, read by the functions `pulumi up` reads it with.
  program.runBootstrap({
    stack: { host: '192.168.1.50', sshUser: 'ubuntu', sshPort: 22, sshKeyPath: '/home/u/.ssh/id_ed25519', sshPrivateKey: pulumi.secret(MOCK_PRIVATE_KEY), hostKey: MOCK_HOST_KEY },
    config: c,
    bundle: readBootstrapBundle(dir),
    fluxSync: readFluxSync(dir, c),
    repo: fakeSnapshot(dir, c),
  });
  await settle();
});

afterAll(() => removeTemp(dir));

describe('secret contract', () => {
  it('creates exactly the Secret keys the synthesized manifests read, key for key', () => {
    expect(contractProblems(scan(), createdSecrets(), reserved)).toEqual([]);
  });

  it('derives the keys of every Secret mounted as a directory from the files its containers read', () => {
    const keysOf = (id: string) => [...new Set(scan().refs.filter((r) => `${r.namespace}/${r.name}` === id).map((r) => r.key))].sort();
    const infra = c.namespaces.infrastructure;
    // Gitea: *_URI=file:… settings; GITEA__database__PASSWD__FILE; the configure container's items (username only).
    expect(keysOf(`${infra}/gitea-secrets`)).toEqual(['internal-token', 'jwt-secret', 'lfs-jwt-secret', 'secret-key']);
    expect(keysOf(`${infra}/gitea-admin`)).toEqual(['username']);
    // PostgreSQL: POSTGRES_PASSWORD_FILE; Gitea: PASSWD__FILE.
    expect(keysOf(`${infra}/gitea-postgres`)).toEqual(['password']);
    // The ACL script in the redis-config ConfigMap, run by the build-acl init container.
    expect(keysOf(`${infra}/redis-users`)).toEqual(['agent-password', 'api-password', 'keda-password']);
    expect(keysOf('flux-system/flux-system')).toEqual(['password', 'username']);
    expect(scan().unresolved).toEqual([]);
  });

  it('creates the GitHub token Secret of the mirrors even without the stack setting (empty, a secret)', async () => {
    const r = resources.find((x) => x.type === 'kubernetes:core/v1:Secret' && (x.inputs.metadata as { name?: string })?.name === 'github-mirror');
    expect(r).toBeDefined();
    expect((unwrapSecrets(r!.inputs) as { stringData: Record<string, string> }).stringData).toEqual({ token: '' });
  });

  it('hands each key reserved for bootstrap to a bootstrap step on stdin (the gitea-admin password: the admin-password step), and to no manifest', () => {
    expect([...reserved].map(([id, keys]) => `${id}[${[...keys].join(',')}]`)).toEqual([`${c.namespaces.infrastructure}/gitea-admin[password]`]);
    const commands = resources.filter((r) => r.type === 'command:remote:Command').map((r) => unwrapSecrets(r.inputs) as { create?: string; stdin?: string });
    for (const [id, keys] of reserved) {
      for (const key of keys) {
        const value = (unwrapSecrets(resources.find((r) => r.type === 'kubernetes:core/v1:Secret' && `${(r.inputs.metadata as any).namespace}/${(r.inputs.metadata as any).name}` === id)!.inputs) as any).stringData[key] as string;
        expect(value.length, `${id}[${key}]`).toBeGreaterThan(0);
        expect(commands.filter((x) => x.stdin === value).length, `${id}[${key}] on a step's stdin`).toBe(1);
        // The value itself is in no script.
        expect(commands.filter((x) => x.create?.includes(value))).toEqual([]);
      }
    }
    const admin = resources.find((r) => r.name === 'raibid-gitea-admin-password');
    expect((unwrapSecrets(admin!.inputs) as { stdin: string }).stdin).toBe((unwrapSecrets(resources.find((r) => r.type === 'kubernetes:core/v1:Secret' && (r.inputs.metadata as any).name === 'gitea-admin')!.inputs) as any).stringData.password);
  });

  it('passes no password as a command-line flag in any manifest (containers and the scripts of ConfigMaps)', () => {
    const texts = clusterObjects().flatMap((o) => {
      const spec = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
      const words = spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])].flatMap((ct: Container & { command?: string[] }) => [...(ct.command ?? []), ...(ct.args ?? [])]) : [];
      return [...words, ...(o.kind === 'ConfigMap' ? Object.values(o.data ?? {}) : [])].map((t) => `${o.kind}/${o.metadata.name}: ${t}`);
    });
    expect(texts.some((t) => t.startsWith('Deployment/gitea: ') && t.includes('gitea admin user create'))).toBe(true);
    expect(texts.filter((t) => /--password\b|--pass\b|user change-password/.test(t))).toEqual([]);
  });

  it('creates exactly the catalogue, each Secret in its namespace', () => {
    expect(createdSecrets()).toEqual(catalogueSecrets(SECRETS));
  });
});

/** Every (Secret, key) of the catalogue. */
const CATALOGUE_KEYS = SECRETS.flatMap((s) => Object.keys(s.keys).map((key) => ({ secret: s.name, key })));

/** The catalogue with one key renamed (`to`) or dropped (`to` undefined). */
function mutated(secret: string, key: string, to?: string): SecretSpec[] {
  return SECRETS.map((s) => {
    if (s.name !== secret) return s;
    const keys = Object.fromEntries(Object.entries(s.keys).flatMap(([k, v]) => (k !== key ? [[k, v]] : to ? [[to, v]] : [])));
    return { ...s, keys };
  });
}

describe('secret contract: mutations of the catalogue (each must break the contract)', () => {
  it('covers every key of the catalogue', () => {
    expect(CATALOGUE_KEYS.length).toBe(SECRETS.reduce((n, s) => n + Object.keys(s.keys).length, 0));
    expect(CATALOGUE_KEYS).toContainEqual({ secret: 'gitea-secrets', key: 'secret-key' });
  });

  const byId = CATALOGUE_KEYS.map((k) => [`${k.secret}[${k.key}]`, k] as const);

  it.each(byId)('fails when %s is renamed', (_id, { secret, key }) => {
    const problems = contractProblems(scan(), catalogueSecrets(mutated(secret, key, `${key}-renamed`)), reserved);
    expect(problems.some((p) => p.includes(`/${secret}[${key}] is read`) && p.includes('does not create that key')), problems.join('\n')).toBe(true);
    expect(problems.some((p) => p.includes(`/${secret}[${key}-renamed] is created but nothing reads it`)), problems.join('\n')).toBe(true);
  });

  it.each(byId)('fails when %s is dropped', (_id, { secret, key }) => {
    const problems = contractProblems(scan(), catalogueSecrets(mutated(secret, key)), reserved);
    expect(problems.some((p) => p.includes(`/${secret}[${key}] is read`)), problems.join('\n')).toBe(true);
  });

  it.each(SECRETS.map((s) => s.name))('fails when the whole Secret %s is dropped', (secret) => {
    const problems = contractProblems(scan(), catalogueSecrets(SECRETS.filter((s) => s.name !== secret)), bootstrapOnly(SECRETS.filter((s) => s.name !== secret)));
    expect(problems.some((p) => p.includes(`/${secret} is read`) && p.includes('does not create it')), problems.join('\n')).toBe(true);
  });
});

/** A deep copy of the cluster objects with one edit applied to the object of that kind and name. */
function editObjects(kind: string, name: string, edit: (o: K8sObject) => void): K8sObject[] {
  const objs = structuredClone(clusterObjects());
  const targets = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(targets.length, `${kind}/${name}`).toBeGreaterThan(0);
  targets.forEach(edit);
  return objs;
}
type Container = { env?: { name: string; value?: string }[]; args?: string[]; envFrom?: object[] };
const podContainers = (o: K8sObject): Container[] => [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers];
const setEnv = (o: K8sObject, name: string, value: string) => {
  for (const ct of podContainers(o)) for (const e of ct.env ?? []) if (e.name === name) e.value = value;
};

describe('secret contract: the manifests read a key the catalogue lacks (each must break the contract)', () => {
  const infra = () => c.namespaces.infrastructure;
  const cases: { title: string; kind: string; name: string; edit: (o: K8sObject) => void; expected: () => string }[] = [
    { title: 'Gitea reads SECRET_KEY from another file', kind: 'Deployment', name: 'gitea', edit: (o) => setEnv(o, 'GITEA__security__SECRET_KEY_URI', 'file:/etc/gitea-secrets/secret-key-v2'), expected: () => `${infra()}/gitea-secrets[secret-key-v2] is read` },
    { title: 'Gitea reads the database password from another file', kind: 'Deployment', name: 'gitea', edit: (o) => setEnv(o, 'GITEA__database__PASSWD__FILE', '/etc/gitea-db/passwd'), expected: () => `${infra()}/gitea-postgres[passwd] is read` },
    { title: 'PostgreSQL reads its password from another file', kind: 'StatefulSet', name: 'gitea-postgres', edit: (o) => setEnv(o, 'POSTGRES_PASSWORD_FILE', '/etc/gitea-postgres/pw'), expected: () => `${infra()}/gitea-postgres[pw] is read` },
    {
      title: 'the Gitea pod mounts the admin password again (a key reserved for bootstrap)',
      kind: 'Deployment',
      name: 'gitea',
      edit: (o) => o.spec.template.spec.volumes.find((v: any) => v.name === 'admin').secret.items.push({ key: 'password', path: 'password' }),
      expected: () => `${infra()}/gitea-admin[password] is read (Deployment/${infra()}/gitea: spec.template.spec.volumes[5].secret.items[1]) but the catalogue reserves it for bootstrap`,
    },
    {
      title: 'the configure script reads the username from another file',
      kind: 'Deployment',
      name: 'gitea',
      edit: (o) => (o.spec.template.spec.volumes.find((v: any) => v.name === 'admin').secret.items = [{ key: 'user', path: 'username' }]),
      expected: () => `${infra()}/gitea-admin[user] is read`,
    },
    {
      title: 'the Redis ACL script reads another password file',
      kind: 'ConfigMap',
      name: 'redis-config',
      edit: (o) => (o.data['build-acl.sh'] = o.data['build-acl.sh'].replaceAll('"$users_dir/keda-password"', '"$users_dir/scaler-password"')),
      expected: () => `${infra()}/redis-users[scaler-password] is read`,
    },
    {
      title: 'the API reads a renamed key through secretKeyRef',
      kind: 'Deployment',
      name: 'raibid-api',
      edit: (o) => podContainers(o).forEach((ct) => ct.env?.forEach((e: any) => e.valueFrom?.secretKeyRef?.key === 'admin' && (e.valueFrom.secretKeyRef.key = 'administrator'))),
      expected: () => `${c.namespaces.ci}/raibid-api-tokens[administrator] is read`,
    },
    {
      title: 'the Gitea Deployment takes gitea-secrets through envFrom (keys not derivable)',
      kind: 'Deployment',
      name: 'gitea',
      edit: (o) => (o.spec.template.spec.containers[0].envFrom = [{ secretRef: { name: 'gitea-secrets' } }]),
      expected: () => `${infra()}/gitea-secrets (Deployment/${infra()}/gitea: spec.template.spec.containers[0].envFrom[0].secretRef): envFrom turns every key into a variable`,
    },
    {
      title: 'the gitea-admin Secret is mounted but none of its files is named',
      kind: 'Deployment',
      name: 'gitea',
      edit: (o) => {
        delete o.spec.template.spec.volumes.find((v: any) => v.name === 'admin').secret.items;
        podContainers(o).forEach((ct) => (ct.args = ct.args?.map((a) => a.replaceAll('/etc/gitea-admin', '/etc/elsewhere'))));
      },
      expected: () => `${infra()}/gitea-admin (Deployment/${infra()}/gitea: spec.template.spec.volumes[5].secret): mounted as a directory, but no container names a file of it`,
    },
  ];

  it.each(cases)('fails when $title', ({ kind, name, edit, expected }) => {
    const problems = contractProblems(scan(editObjects(kind, name, edit)), createdSecrets(), reserved);
    expect(problems.some((p) => p.startsWith(expected())), problems.join('\n')).toBe(true);
  });
});

describe('secret reference scanner', () => {
  const pod = (spec: object) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ci' }, spec: { template: { spec } } });
  const ids = (s: SecretScan) => s.refs.map((r) => `${r.namespace}/${r.name}[${r.key}]`);

  it('finds references of every form, each with its key', () => {
    const objs = [
      pod({
        imagePullSecrets: [{ name: 'pull' }],
        initContainers: [{ name: 'i', args: ['sh', '-c', 'd="${OVERRIDE:-/etc/script-dir}"; cat "$d/from-script"'], volumeMounts: [{ name: 'v4', mountPath: '/etc/script-dir' }] }],
        containers: [
          {
            name: 'c',
            command: ['sh', '/scripts/run.sh'],
            env: [
              { name: 'A', valueFrom: { secretKeyRef: { name: 'env', key: 'a' } } },
              { name: 'URI', value: 'file:/etc/whole/uri-key' },
              { name: 'PW_FILE', value: '/etc/whole/file-key' },
            ],
            volumeMounts: [
              { name: 'v1', mountPath: '/etc/whole' },
              { name: 'v5', mountPath: '/etc/sub/x', subPath: 'only-key' },
              { name: 'scripts', mountPath: '/scripts' },
              { name: 'v6', mountPath: '/etc/scripted' },
            ],
          },
        ],
        volumes: [
          { name: 'v1', secret: { secretName: 'whole' } },
          { name: 'v2', secret: { secretName: 'some', items: [{ key: 'k1', path: 'p' }] } },
          { name: 'v3', projected: { sources: [{ secret: { name: 'proj', items: [{ key: 'k2', path: 'q' }] } }] } },
          { name: 'v4', secret: { secretName: 'script-read' } },
          { name: 'v5', secret: { secretName: 'sub' } },
          { name: 'scripts', configMap: { name: 'scripts' } },
          { name: 'v6', secret: { secretName: 'cm-script-read' } },
        ],
      }),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'scripts', namespace: 'ci' }, data: { 'run.sh': 'dir="${X:-/etc/scripted}"\ncat "$dir/key-in-configmap"\nfor k in a b; do cat "$dir/$k"; done\n' } },
      { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 't', namespace: 'ci' }, spec: { secretTargetRef: [{ parameter: 'password', name: 'redis-keda', key: 'password' }] } },
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: 'ct' }, spec: { secretTargetRef: [{ parameter: 'username', name: 'cluster-keda', key: 'username' }] } },
      { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'g', namespace: 'flux-system' }, spec: { url: 'http://gitea/x.git', secretRef: { name: 'git' } } },
      { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 's', namespace: 'flux-system' }, spec: { url: 'ssh://git@gitea/x.git', secretRef: { name: 'git-ssh' } } },
      { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'r', namespace: 'keda' }, spec: { valuesFrom: [{ kind: 'Secret', name: 'values' }, { kind: 'ConfigMap', name: 'cm' }] } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', namespace: 'ci' }, spec: { tls: [{ secretName: 'tls' }] } },
    ];
    expect(ids(scanSecretReferences(objs, 'keda'))).toEqual([
      'ci/whole[uri-key]',
      'ci/whole[file-key]',
      'ci/some[k1]',
      'ci/proj[k2]',
      'ci/script-read[from-script]',
      'ci/sub[only-key]',
      'ci/cm-script-read[key-in-configmap]',
      'ci/pull[.dockerconfigjson]',
      'ci/env[a]',
      'ci/redis-keda[password]',
      'keda/cluster-keda[username]',
      'flux-system/git[username]',
      'flux-system/git[password]',
      'flux-system/git-ssh[identity]',
      'flux-system/git-ssh[known_hosts]',
      'keda/values[values.yaml]',
      'ci/tls[tls.crt]',
      'ci/tls[tls.key]',
    ]);
  });

  it('reports what it cannot derive instead of counting it satisfied', () => {
    const objs = [
      pod({
        containers: [{ name: 'c', envFrom: [{ secretRef: { name: 'envfrom' } }], volumeMounts: [{ name: 'v1', mountPath: '/etc/unread' }] }],
        volumes: [
          { name: 'v1', secret: { secretName: 'unread' } },
          { name: 'v2', secret: { secretName: 'unmounted' } },
        ],
      }),
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'ci' }, secrets: [{ name: 'sa-token' }] },
      { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'HelmRepository', metadata: { name: 'h', namespace: 'flux-system' }, spec: { secretRef: { name: 'helm' } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-a-ref', namespace: 'ci' }, data: { secret: 'x' } },
    ];
    const s = scanSecretReferences(objs, 'keda');
    expect(s.refs).toEqual([]);
    expect(s.unresolved.map((u) => `${u.namespace}/${u.name}: ${u.problem.split(';')[0].split(',')[0]}`)).toEqual([
      'ci/unread: mounted as a directory',
      'ci/unmounted: the volume is mounted by no container',
      'ci/envfrom: envFrom turns every key into a variable',
      'ci/sa-token: a ServiceAccount token Secret',
      'flux-system/helm: a whole-Secret reference whose keys this scanner does not know',
    ]);
  });

  it('fails the contract for a key reserved for bootstrap that a manifest reads, or that is not created', () => {
    const s: SecretScan = { refs: [{ namespace: 'ci', name: 'a', key: 'x', where: 'here' }], unresolved: [] };
    const created = new Map([['ci/a', new Set(['x', 'y'])]]);
    expect(contractProblems(s, created, new Map([['ci/a', new Set(['y'])]]))).toEqual([]);
    expect(contractProblems(s, created, new Map([['ci/a', new Set(['x', 'y'])]]))).toEqual(['ci/a[x] is read (here) but the catalogue reserves it for bootstrap (readByBootstrapOnly)']);
    expect(contractProblems(s, created, new Map([['ci/a', new Set(['y', 'z'])]]))).toEqual(['ci/a[z] is read by bootstrap (readByBootstrapOnly) but bootstrap does not create that key']);
  });

  it('fails the contract for a Secret created with a key nothing reads, and for one nothing refers to', () => {
    const s: SecretScan = { refs: [{ namespace: 'ci', name: 'a', key: 'x', where: 'here' }], unresolved: [] };
    expect(contractProblems(s, new Map([['ci/a', new Set(['x', 'y'])], ['ci/b', new Set(['z'])]]))).toEqual(['ci/a[y] is created but nothing reads it', 'ci/b is created but nothing reads it']);
  });
});
