import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dependencyClosure, fakeSnapshot, installMocks, isSecretValue, MARKERS, MOCK_HOST_KEY, MOCK_PRIVATE_KEY, type Registered, sampleBundle, settle, unwrapSecrets, withoutSecrets } from './bootstrap-harness.js';
import { config, removeTemp, synthToTemp } from './helpers.js';
import { SECRETS } from '../src/secrets/catalog.js';
import { FLUX_NAMESPACE, FLUX_SOURCE } from '../src/gitops/cluster.js';
import type { BootstrapOutputs } from '../src/bootstrap/bootstrap.js';
import { REGISTRY_PULL_TOKEN, revokeAllTokensScript, tokenKeys, tokenTriggers } from '../src/bootstrap/gitea.js';
import { adminPasswordScript, postgresPasswordScript } from '../src/bootstrap/rotation-scripts.js';
import { branchProtectionScript, revokeTokenScript, tokenScript } from '../src/bootstrap/gitea-scripts.js';
import { botTeamScript, botUserScript } from '../src/bootstrap/gitea-bot-scripts.js';
import { installScript, USERNS_SYSCTL_PATH, usernsScript } from '../src/bootstrap/k3s.js';
import { ONE_SHOT_IGNORED } from '../src/bootstrap/one-shot.js';
import { K3S_REGISTRIES_PATH, k3sConfigYaml, registriesYaml } from '../src/bootstrap/k3s-config.js';
import { inSh, removeFileScript, seedFileScript, writeFileScript } from '../src/bootstrap/shell.js';
import { preflightScript } from '../src/bootstrap/preflight-script.js';
import { readBootstrapBundle, readFluxSync } from '../src/bootstrap/manifests.js';
import { BOOTSTRAP_FIELD_MANAGER, FIELD_MANAGER_ANNOTATION } from '../src/bootstrap/ownership.js';
import type { Manifest } from '../src/gitops/render.js';
import { parseYaml, yamlFiles } from '../src/policy/documents.js';
import { CONFIG_NAMESPACE } from '../src/bootstrap/stack-config.js';
import { FLUX_OPERATOR_CHART, FLUX_OPERATOR_VERSION, FLUX_VERSION, K3S_VERSION } from '../src/bootstrap/versions.js';

const c = config();
let resources: Registered[];
let outputs: BootstrapOutputs;
let dir: string;

const byName = (name: string): Registered => {
  const hit = resources.find((r) => r.name === name);
  if (!hit) throw new Error(`no resource ${name} among ${resources.map((r) => r.name).join(', ')}`);
  return hit;
};
/** Custom resources below a component (any depth). */
const under = (component: string): Registered[] => {
  const root = byName(component).urn;
  const inside = (r: Registered): boolean => r.parent === root || resources.some((p) => p.urn === r.parent && inside(p));
  return resources.filter((r) => r.custom && inside(r));
};

beforeAll(async () => {
  resources = await installMocks();
  const program = await import('../src/bootstrap/program.js');
  dir = synthToTemp();
  outputs = program.runBootstrap({
    stack: { host: '192.168.1.50', sshUser: 'ubuntu', sshPort: 22, sshKeyPath: '/home/u/.ssh/id_ed25519', sshPrivateKey: pulumi.secret(MOCK_PRIVATE_KEY), hostKey: MOCK_HOST_KEY },
    config: c,
    bundle: sampleBundle(c),
    fluxSync: readFluxSync(dir, c),
    repo: fakeSnapshot(dir, c),
  });
  await settle();
});

afterAll(() => removeTemp(dir));

/** The script a remote command runs, from its `sh -c <quoted script>` (fails on anything else). */
const body = (input: unknown): string => {
  const text = String(unwrapSecrets(input));
  const m = /^sh -c '([\s\S]*)'$/.exec(text);
  if (!m) throw new Error(`not an sh -c command: ${text.slice(0, 80)}`);
  return m[1].replace(/'"'"'/g, "'").replace(/'"\\\\"'/g, '\\');
};

describe('bootstrap program: resource graph', () => {
  it('has one component per step, typed raibid:bootstrap:*', () => {
    const components = resources.filter((r) => r.type.startsWith('raibid:bootstrap:')).map((r) => [r.name, r.type]);
    expect(components).toEqual(
      expect.arrayContaining([
        ['raibid', 'raibid:bootstrap:Bootstrap'],
        ['raibid-preflight', 'raibid:bootstrap:Preflight'],
        ['raibid-k3s', 'raibid:bootstrap:K3s'],
        ['raibid-kubeconfig', 'raibid:bootstrap:Kubeconfig'],
        ['raibid-namespaces', 'raibid:bootstrap:Namespaces'],
        ['raibid-credentials', 'raibid:bootstrap:Credentials'],
        ['raibid-secrets', 'raibid:bootstrap:Secrets'],
        ['raibid-platform', 'raibid:bootstrap:Platform'],
        ['raibid-gitea', 'raibid:bootstrap:Gitea'],
        ['raibid-bot', 'raibid:bootstrap:GiteaBot'],
        ['raibid-tokens', 'raibid:bootstrap:GiteaTokens'],
        ['raibid-token-secrets', 'raibid:bootstrap:Secrets'],
        ['raibid-registry-auth', 'raibid:bootstrap:RegistryAuth'],
        ['raibid-flux', 'raibid:bootstrap:Flux'],
        ['raibid-flux-sync', 'raibid:bootstrap:FluxSync'],
        ['raibid-token-revocation', 'raibid:bootstrap:TokenRevocation'],
      ]),
    );
    expect(components).toHaveLength(16);
  });

  it('names every child after its parent', () => {
    const names = new Map(resources.map((r) => [r.urn, r.name]));
    for (const r of resources.filter((x) => x.parent && names.has(x.parent))) expect(r.name.startsWith(`${names.get(r.parent)}-`), r.name).toBe(true);
  });

  it('orders the steps: preflight → k3s config → install → kubeconfig → provider → namespaces → secrets → bundle → Gitea ready → org/repo → push → protection → tokens → token secrets → registry auth → Flux → sync, with the bot between Gitea and the tokens', () => {
    const closure = dependencyClosure(resources);
    const tokens = resources.filter((r) => r.name.startsWith('raibid-tokens-') && r.custom && r.name !== 'raibid-tokens-registry-pull');
    // Each step waits for the one before it, or for the steps it names.
    const steps: [string, Registered[], string[]?][] = [
      ['preflight', [byName('raibid-preflight-check')]],
      ['k3s config', ['raibid-k3s-config', 'raibid-k3s-registries', 'raibid-k3s-hosts', 'raibid-k3s-userns'].map(byName)],
      ['k3s install', [byName('raibid-k3s-install')]],
      ['kubeconfig', [byName('raibid-kubeconfig-read')]],
      ['provider', [byName('raibid-kubeconfig-provider')]],
      ['namespaces', under('raibid-namespaces')],
      ['secrets', under('raibid-secrets')],
      ['bundle', under('raibid-platform')],
      ['gitea ready', [byName('raibid-gitea-ready')]],
      ['database password', [byName('raibid-gitea-database-password')]],
      ['admin password', [byName('raibid-gitea-admin-password')]],
      ['org/repo', [byName('raibid-gitea-repository')]],
      ['push', [byName('raibid-gitea-push')]],
      ['protection', [byName('raibid-gitea-protection')]],
      ['bot user', [byName('raibid-bot-user')], ['gitea ready']],
      ['bot team', [byName('raibid-bot-team')], ['bot user', 'org/repo']],
      ['pull token', [byName('raibid-tokens-registry-pull')], ['org/repo', 'protection', 'bot team']],
      ['tokens', tokens, ['protection', 'bot user', 'bot team']],
      ['token secrets', under('raibid-token-secrets'), ['tokens']],
      // registries.yaml restarts k3s: nothing may be talking to the API server (or Gitea) meanwhile.
      ['registry auth', under('raibid-registry-auth'), ['pull token', 'tokens', 'token secrets', 'bot user', 'bot team', 'protection', 'push', 'k3s install', 'k3s config']],
      ['flux install', [byName('raibid-flux-operator'), byName('raibid-flux-instance')], ['push', 'registry auth']],
      ['sync', [byName('raibid-flux-sync-source'), byName('raibid-flux-sync-root')]],
      // Created last, so deleted first on destroy: the tokens are revoked before Flux prunes Gitea.
      ['revocation', [byName('raibid-token-revocation-all')], ['sync', 'tokens', 'pull token']],
    ];
    const resourcesOf = new Map(steps.map(([step, rs]) => [step, rs]));
    for (const [step, rs] of steps) expect(rs.length, step).toBeGreaterThan(0);
    expect(tokens.length).toBe(tokenKeys(c).length);
    for (let i = 1; i < steps.length; i++) {
      const [step, current, named] = steps[i];
      for (const prevStep of named ?? [steps[i - 1][0]]) {
        for (const r of current) for (const p of resourcesOf.get(prevStep)!) expect(closure.get(r.urn)!.has(p.urn), `${step}: ${r.name} must wait for ${prevStep}: ${p.name}`).toBe(true);
      }
    }
  });

  it('revokes every token first on destroy: the revocation depends on the sync objects, so Pulumi deletes it before them', () => {
    const revoke = byName('raibid-token-revocation-all');
    const closure = dependencyClosure(resources);
    for (const n of ['raibid-flux-sync-root', 'raibid-flux-sync-source', 'raibid-tokens-registry-pull', 'raibid-tokens-flux-system-password']) expect(closure.get(revoke.urn)!.has(byName(n).urn), n).toBe(true);
    // Nothing depends on it, so nothing is deleted before it.
    for (const r of resources) expect(closure.get(r.urn)!.has(revoke.urn), r.name).toBe(false);
    const script = body(revoke.inputs.delete);
    expect(script).toBe(revokeAllTokensScript(c));
    for (const t of [...tokenKeys(c).map((k) => [k.name, k.user] as const), [REGISTRY_PULL_TOKEN.name, REGISTRY_PULL_TOKEN.user] as const]) expect(script).toContain(revokeTokenScript(c, t[0], t[1]));
  });

  it('puts rotated PostgreSQL and admin passwords into effect, each with its password on stdin as a secret', () => {
    for (const [name, script, secret] of [
      ['raibid-gitea-database-password', postgresPasswordScript(c), 'raibid-credentials-gitea-postgres-password'],
      ['raibid-gitea-admin-password', adminPasswordScript(c), 'raibid-credentials-gitea-admin-password'],
    ] as const) {
      const r = byName(name);
      expect(body(r.inputs.create), name).toBe(script);
      expect(isSecretValue(r.inputs.stdin), name).toBe(true);
      expect(unwrapSecrets(r.inputs.stdin), name).toBe(`MOCKRANDOM${secret}`);
      expect(r.additionalSecretOutputs, name).toContain('stdin');
      // Not one-shot: a new password (stdin) runs it again.
      expect(r.ignoreChanges, name).toEqual([]);
    }
  });

  it('creates the token Secrets after their tokens and before Flux reads them', () => {
    const closure = dependencyClosure(resources);
    const fluxSecret = byName(`raibid-token-secrets-${FLUX_NAMESPACE}-${FLUX_SOURCE}`);
    expect(closure.get(fluxSecret.urn)!.has(byName('raibid-tokens-flux-system-password').urn)).toBe(true);
    expect(closure.get(byName('raibid-flux-sync-source').urn)!.has(fluxSecret.urn)).toBe(true);
  });

  it('passes the kubeconfig provider to every Kubernetes resource', () => {
    const provider = byName('raibid-kubeconfig-provider').urn;
    const k8s = resources.filter((r) => r.custom && r.type.startsWith('kubernetes:'));
    expect(k8s.length).toBeGreaterThan(10);
    for (const r of k8s) expect(r.deps, r.name).toContain(provider);
  });
});

describe('bootstrap program: what it applies', () => {
  it('runs the preflight generated from raibid.yaml', () => {
    expect(byName('raibid-preflight-check').inputs).toMatchObject({ create: inSh('sh -s'), stdin: preflightScript(c, '192.168.1.50') });
  });

  it('writes the k3s config and registries files generated from raibid.yaml', () => {
    expect(byName('raibid-k3s-config').inputs.stdin).toBe(k3sConfigYaml(c, { host: '192.168.1.50' }));
    expect(byName('raibid-k3s-registries').inputs.stdin).toBe(registriesYaml(c));
  });

  it('writes the first registries.yaml only when the machine has none, so it never drops the registry login', () => {
    expect(body(byName('raibid-k3s-registries').inputs.create)).toBe(seedFileScript(K3S_REGISTRIES_PATH, '0600', true, 'the RegistryAuth step'));
  });

  it('rewrites registries.yaml with the pull token, restarting k3s only on a change', () => {
    const file = byName('raibid-registry-auth-file');
    expect(under('raibid-registry-auth')).toEqual([file]);
    expect(body(file.inputs.create)).toBe(writeFileScript(K3S_REGISTRIES_PATH, '0600', true));
    expect(unwrapSecrets(file.inputs.stdin)).toBe(registriesYaml(c, { username: 'raibid-admin', password: 'MOCKTOKENraibid-tokens-registry-pull' }));
    expect(file.inputs.delete).toBeUndefined();
  });

  it('writes registries.yaml again after a k3s reinstall, through triggers', () => {
    expect(byName('raibid-registry-auth-file').inputs.triggers).toEqual(['raibid-k3s-install-id', 'raibid-k3s-registries-id']);
  });

  it('lifts the AppArmor restriction on unprivileged user namespaces for rootless BuildKit, before k3s', () => {
    const userns = byName('raibid-k3s-userns');
    expect(userns.inputs).toMatchObject({ create: inSh(usernsScript()), delete: inSh(removeFileScript(USERNS_SYSCTL_PATH)) });
    expect(byName('raibid-k3s-install').deps).toContain(userns.urn);
  });

  it('installs the pinned k3s and uninstalls it on destroy', () => {
    const install = byName('raibid-k3s-install').inputs;
    expect(body(install.create)).toContain(`INSTALL_K3S_VERSION='${K3S_VERSION}'`);
    expect(body(install.delete)).toContain('k3s-uninstall.sh');
    expect(install.triggers).toBeUndefined();
  });

  it('applies namespaces and storage classes before the Secrets, the rest after', () => {
    const ns = under('raibid-namespaces').map((r) => r.type).sort();
    expect(ns).toEqual(['kubernetes:core/v1:Namespace', 'kubernetes:core/v1:Namespace', 'kubernetes:storage.k8s.io/v1:StorageClass']);
    expect(under('raibid-platform').map((r) => r.type).sort()).toEqual(['kubernetes:apps/v1:Deployment', 'kubernetes:core/v1:PersistentVolumeClaim', 'kubernetes:core/v1:Service']);
  });

  it('creates flux-system by name only and has the Flux Operator keep it restricted (one owner of its labels)', () => {
    const fluxNs = byName(`raibid-namespaces-${FLUX_NAMESPACE}`).inputs as { metadata: Record<string, unknown> };
    expect(fluxNs.metadata).toEqual({ name: FLUX_NAMESPACE });
    const patches = (byName('raibid-flux-instance').inputs.spec as { kustomize: { patches: { target: Record<string, string>; patch: string }[] } }).kustomize.patches;
    const ns = patches.find((p) => p.target.kind === 'Namespace')!;
    expect(ns.target).toEqual({ kind: 'Namespace', name: FLUX_NAMESPACE });
    expect(parse(ns.patch).metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' });
  });

  it('hands every object Flux also applies to Flux: one field manager Pulumi applies under, the same one kustomize-controller overrides', () => {
    const applied = [...under('raibid-namespaces'), ...under('raibid-platform'), byName('raibid-flux-sync-source'), byName('raibid-flux-sync-root')].filter((r) => r.name !== `raibid-namespaces-${FLUX_NAMESPACE}`);
    expect(applied.length).toBe(sampleBundle(c).length + 2);
    for (const r of applied) expect((r.inputs.metadata as { annotations?: Record<string, string> }).annotations?.[FIELD_MANAGER_ANNOTATION], r.name).toBe(BOOTSTRAP_FIELD_MANAGER);
    // kustomize-controller gets --override-manager=<that manager> appended to its arguments.
    const patches = (byName('raibid-flux-instance').inputs.spec as { kustomize: { patches: { target: Record<string, string>; patch: string }[] } }).kustomize.patches;
    const kc = patches.find((p) => p.target.kind === 'Deployment')!;
    expect(kc.target).toEqual({ kind: 'Deployment', name: 'kustomize-controller' });
    expect(parse(kc.patch)).toEqual([{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: `--override-manager=${BOOTSTRAP_FIELD_MANAGER}` }]);
    // Nothing else Pulumi applies to the cluster claims that manager (it would lose its fields to Flux).
    const others = resources.filter((r) => r.custom && r.type.startsWith('kubernetes:') && !applied.includes(r));
    for (const r of others) expect(JSON.stringify(r.inputs), r.name).not.toContain(FIELD_MANAGER_ANNOTATION);
  });

  it('applies nothing from the bundle that Flux does not apply too (otherwise it would keep two owners, or none)', () => {
    const key = (o: Manifest) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const flux = new Set(['clusters', 'infrastructure', 'apps'].flatMap((d) => yamlFiles(join(dir, d))).flatMap((f) => parseYaml(readFileSync(f, 'utf8'), f) as Manifest[]).filter((o) => o?.kind && o.metadata?.name).map(key));
    const bundle = readBootstrapBundle(dir);
    expect(bundle.length).toBeGreaterThan(10);
    expect(bundle.map(key).filter((k) => !flux.has(k))).toEqual([]);
  });

  it('installs the Flux Operator chart and a FluxInstance pinned to FLUX_VERSION, without sync', () => {
    expect(byName('raibid-flux-operator').inputs).toMatchObject({ chart: FLUX_OPERATOR_CHART, version: FLUX_OPERATOR_VERSION, namespace: FLUX_NAMESPACE });
    const spec = byName('raibid-flux-instance').inputs.spec as Record<string, any>;
    expect(FLUX_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(spec.distribution).toEqual({ version: FLUX_VERSION, registry: 'ghcr.io/fluxcd' });
    expect(spec.sync).toBeUndefined();
  });

  it('applies the synthesized flux-system GitRepository and Kustomization, adding only the wait and field-manager annotations', () => {
    const [source, root] = readFluxSync(dir, c);
    for (const [name, obj] of [['raibid-flux-sync-source', source], ['raibid-flux-sync-root', root]] as const) {
      const applied = byName(name).inputs as Record<string, any>;
      expect(applied.spec).toEqual(obj.spec);
      expect(applied.metadata).toEqual({ ...obj.metadata, annotations: { 'pulumi.com/waitFor': 'condition=Ready', [FIELD_MANAGER_ANNOTATION]: BOOTSTRAP_FIELD_MANAGER } });
    }
    expect((source.spec as Record<string, any>).secretRef).toEqual({ name: FLUX_SOURCE });
  });

  it('keeps PersistentVolumeClaims when Pulumi deletes', () => {
    expect(resources.filter((r) => r.type === 'kubernetes:core/v1:PersistentVolumeClaim').map((r) => r.retainOnDelete)).toEqual([true]);
  });

  it('creates a Gitea token per gitea-token key of the catalogue, from the machine', () => {
    const tokens = resources.filter((r) => r.name.startsWith('raibid-tokens-') && r.custom).map((r) => r.name).sort();
    expect(tokens).toEqual(['raibid-tokens-flux-system-password', 'raibid-tokens-gitea-agent-token-token', 'raibid-tokens-gitea-mirror-token-token', 'raibid-tokens-image-builder-token', 'raibid-tokens-registry-pull']);
    expect(body(byName('raibid-tokens-gitea-agent-token-token').inputs.create)).toContain(`'{"name":"raibid-ci-gitea-agent-token-token","scopes":["write:repository","write:package","read:organization"]}'`);
  });

  it('creates each token as the user the catalogue names: the bot with its password on stdin, the admin from the cluster', () => {
    const agent = byName('raibid-tokens-gitea-agent-token-token');
    const [agentKey] = tokenKeys(c).filter((t) => t.spec.name === 'gitea-agent-token');
    expect(agentKey.user).toBe('bot');
    expect(body(agent.inputs.create)).toBe(tokenScript(c, agentKey.name, agentKey.scopes, 'bot'));
    expect(isSecretValue(agent.inputs.stdin)).toBe(true);
    expect(unwrapSecrets(agent.inputs.stdin)).toBe('MOCKRANDOMraibid-bot-password');
    expect(agent.additionalSecretOutputs).toEqual(expect.arrayContaining(['stdout', 'stdin']));
    expect(body(agent.inputs.delete)).toBe(revokeTokenScript(c, agentKey.name, 'bot'));
    const flux = byName('raibid-tokens-flux-system-password');
    const [fluxKey] = tokenKeys(c).filter((t) => t.spec.name === 'flux-system');
    expect(fluxKey.user).toBe('admin');
    expect(body(flux.inputs.create)).toBe(tokenScript(c, fluxKey.name, fluxKey.scopes, 'admin'));
    expect(flux.inputs.stdin).toBeUndefined();
  });

  it('creates the bot user with its generated password on stdin, and its team', () => {
    const user = byName('raibid-bot-user');
    expect(body(user.inputs.create)).toBe(botUserScript(c));
    expect(isSecretValue(user.inputs.stdin)).toBe(true);
    expect(unwrapSecrets(user.inputs.stdin)).toBe('MOCKRANDOMraibid-bot-password');
    expect(user.additionalSecretOutputs).toContain('stdin');
    expect(body(byName('raibid-bot-team').inputs.create)).toBe(botTeamScript(c));
    expect(byName('raibid-bot-password').inputs).toMatchObject({ length: 32, special: false });
  });

  it('protects the GitOps branch so that only the admin pushes, after the push', () => {
    const protection = byName('raibid-gitea-protection');
    expect(body(protection.inputs.create)).toBe(branchProtectionScript(c));
    expect(protection.deps).toContain(byName('raibid-gitea-push').urn);
  });

  it('names in triggers what each one-shot command is about, and ignores only the connection and logging', () => {
    const tokens = resources.filter((r) => r.name.startsWith('raibid-tokens-') && r.custom);
    const oneShot = [...tokens, ...['raibid-bot-user', 'raibid-bot-team', 'raibid-gitea-repository', 'raibid-gitea-push', 'raibid-gitea-protection'].map(byName)];
    expect(ONE_SHOT_IGNORED).toEqual(['connection', 'logging']);
    for (const r of oneShot) {
      // An ignored script or stdin would be copied back from the state: a replacement would run the old one.
      expect(r.ignoreChanges, r.name).toEqual(['connection', 'logging']);
      expect((r.inputs.triggers as unknown[]).length, r.name).toBeGreaterThan(0);
    }
    expect(byName('raibid-tokens-gitea-agent-token-token').inputs.triggers).toEqual(['raibid-bot', 'raibid-ci-gitea-agent-token-token', 'write:repository', 'write:package', 'read:organization', c.namespaces.infrastructure]);
    expect(byName('raibid-gitea-push').inputs.triggers).toEqual(['raibid', 'raibid-ci', 'main']);
    expect(byName('raibid-gitea-bundle').ignoreChanges).toEqual(['source', 'connection']);
  });

  it('builds each token script from its triggers alone, so no other config change issues a new token', () => {
    const other = config('gitea:\n  admin:\n    username: someone-else\nflux:\n  organization: another-org\ncluster:\n  nodeAddress: 192.168.1.60\n');
    for (const t of tokenKeys(c)) {
      expect(tokenTriggers(other, t.name, t.scopes, t.user), t.name).toEqual(tokenTriggers(c, t.name, t.scopes, t.user).map((v) => (v === c.gitea.admin.username ? 'someone-else' : v)));
      if (t.user === 'bot') {
        expect(tokenScript(other, t.name, t.scopes, t.user), t.name).toBe(tokenScript(c, t.name, t.scopes, t.user));
        expect(revokeTokenScript(other, t.name, t.user), t.name).toBe(revokeTokenScript(c, t.name, t.user));
      } else {
        expect(tokenScript(other, t.name, t.scopes, t.user), t.name).toBe(tokenScript(c, t.name, t.scopes, t.user));
      }
    }
    // …and a change of a trigger does change the script (the namespace is one).
    const moved = config('namespaces:\n  infrastructure: infra2\n');
    const [t] = tokenKeys(c);
    expect(tokenScript(moved, t.name, t.scopes, t.user)).not.toBe(tokenScript(c, t.name, t.scopes, t.user));
    expect(tokenTriggers(moved, t.name, t.scopes, t.user)).toContain('infra2');
  });

  it('lets every other command follow its inputs (they converge and are cheap to re-run)', () => {
    for (const name of ['raibid-preflight-check', 'raibid-k3s-config', 'raibid-k3s-registries', 'raibid-k3s-hosts', 'raibid-k3s-userns', 'raibid-k3s-install', 'raibid-gitea-ready', 'raibid-gitea-database-password', 'raibid-gitea-admin-password', 'raibid-registry-auth-file']) {
      expect(byName(name).ignoreChanges, name).toEqual([]);
    }
    expect(body(byName('raibid-k3s-install').inputs.create)).toBe(installScript());
  });

  it('runs every remote script as `sh -c <script>`, whatever the login shell', () => {
    const commands = resources.filter((r) => r.type === 'command:remote:Command');
    expect(commands.length).toBeGreaterThan(10);
    for (const r of commands) {
      for (const field of ['create', 'update', 'delete'] as const) {
        const v = r.inputs[field];
        if (v === undefined) continue;
        expect(String(unwrapSecrets(v)).startsWith('sh -c '), `${r.name}.${field}`).toBe(true);
      }
    }
  });

  it('removes a file before writing it again when a file step is replaced (the old delete never runs last)', () => {
    for (const name of ['raibid-k3s-config', 'raibid-k3s-registries', 'raibid-k3s-hosts', 'raibid-k3s-userns']) expect(byName(name).deleteBeforeReplace, name).toBe(true);
  });

  it('protects the k3s install, so no replacement uninstalls k3s', () => {
    expect(byName('raibid-k3s-install').protect).toBe(true);
    expect(resources.filter((r) => r.protect).map((r) => r.name)).toEqual(['raibid-k3s-install']);
  });

  it('refreshes /etc/hosts when the stack host changes', () => {
    expect(byName('raibid-k3s-hosts').inputs.triggers).toEqual(['192.168.1.50']);
  });

  it('gives the Kubernetes provider a clusterIdentifier, so a new kubeconfig or host never replaces every object', () => {
    expect(byName('raibid-kubeconfig-provider').inputs.clusterIdentifier).toBe(c.cluster.name);
  });

  it('reads the kubeconfig again after an upgrade, a reinstall or when raibid-ci:kubeconfigRefresh changes', () => {
    expect(byName('raibid-kubeconfig-read').inputs.triggers).toEqual([K3S_VERSION, 'raibid-k3s-install-id', '']);
  });

  it('never hands a previous (secret) stdout back to a script in the environment', () => {
    const tokens = resources.filter((x) => x.name.startsWith('raibid-tokens-') && x.custom);
    for (const r of [byName('raibid-kubeconfig-read'), ...tokens]) expect(r.inputs.addPreviousOutputInEnv, r.name).toBe(false);
  });

  it('creates a pull-only token for containerd and revokes it on destroy', () => {
    const pull = byName('raibid-tokens-registry-pull').inputs;
    expect(REGISTRY_PULL_TOKEN.scopes).toEqual(['read:package']);
    expect(body(pull.create)).toContain(`'{"name":"raibid-node-registry-pull","scopes":["read:package"]}'`);
    expect(body(pull.create)).toBe(tokenScript(c, 'raibid-node-registry-pull', ['read:package']));
    expect(body(pull.delete)).toBe(revokeTokenScript(c, 'raibid-node-registry-pull'));
  });
});

const MARKER = new RegExp(MARKERS.join('|'));

describe('bootstrap program: credentials', () => {
  it('generates every random catalogue key with @pulumi/random, result declared secret', () => {
    const randoms = resources.filter((r) => r.type === 'random:index/randomPassword:RandomPassword');
    const expected = [...SECRETS.flatMap((s) => Object.entries(s.keys).filter(([, v]) => v.from === 'random').map(([k]) => `raibid-credentials-${s.name}-${k}`)), 'raibid-bot-password'];
    expect(randoms.map((r) => r.name).sort()).toEqual(expected.sort());
    for (const r of randoms) expect(r.additionalSecretOutputs, r.name).toContain('result');
  });

  it('declares stdout secret and keeps it out of the logs for the kubeconfig and every token', () => {
    const tokens = resources.filter((x) => x.name.startsWith('raibid-tokens-') && x.custom);
    expect(tokens.map((r) => r.name)).toContain('raibid-tokens-registry-pull');
    for (const r of [byName('raibid-kubeconfig-read'), ...tokens]) {
      expect(r.additionalSecretOutputs, r.name).toContain('stdout');
      expect(r.inputs.logging, r.name).toBe('stderr');
    }
  });

  it('revokes a replaced token before creating its successor (revocation goes by name)', () => {
    const tokens = resources.filter((x) => x.name.startsWith('raibid-tokens-') && x.custom);
    for (const r of tokens) expect(r.deleteBeforeReplace, r.name).toBe(true);
  });

  it('passes the registry login only on stdin, as a secret, declared secret and never logged', () => {
    const file = byName('raibid-registry-auth-file');
    expect(isSecretValue(file.inputs.stdin)).toBe(true);
    expect(file.additionalSecretOutputs).toContain('stdin');
    expect(file.inputs.logging).toBe('stderr');
    expect(JSON.stringify(withoutSecrets(file.inputs))).not.toContain('MOCKTOKEN');
    expect(JSON.stringify(unwrapSecrets(file.inputs))).toContain('MOCKTOKENraibid-tokens-registry-pull');
  });

  it('puts the pull token in no Kubernetes Secret (containerd reads it, no pod does)', () => {
    for (const r of resources.filter((x) => x.type === 'kubernetes:core/v1:Secret')) expect(JSON.stringify(unwrapSecrets(r.inputs)), r.name).not.toContain('registry-pull');
  });

  it('passes Secret data, the SSH key and the kubeconfig only as secrets', () => {
    for (const r of resources.filter((x) => x.type === 'kubernetes:core/v1:Secret')) expect(isSecretValue(r.inputs.stringData), r.name).toBe(true);
    for (const r of resources.filter((x) => x.type.startsWith('command:remote:'))) {
      // The provider SDK may wrap the whole connection once one field of it is secret.
      const conn = r.inputs.connection as Record<string, unknown>;
      expect(isSecretValue(conn) || isSecretValue(conn.privateKey), r.name).toBe(true);
    }
    expect(isSecretValue(byName('raibid-kubeconfig-provider').inputs.kubeconfig)).toBe(true);
  });

  it('pins the machine\'s host key on every SSH connection (no connection accepts any key)', () => {
    const remote = resources.filter((x) => x.type.startsWith('command:remote:'));
    expect(remote.length).toBeGreaterThan(10);
    for (const r of remote) expect((unwrapSecrets(r.inputs.connection) as Record<string, unknown>).hostKey, r.name).toBe(MOCK_HOST_KEY);
  });

  it('exports the admin password and the kubeconfig as secret outputs', async () => {
    expect(await pulumi.isSecret(outputs.giteaAdminPassword)).toBe(true);
    expect(await pulumi.isSecret(outputs.kubeconfig)).toBe(true);
  });

  it('shows no generated credential anywhere in plain text', async () => {
    const plain = JSON.stringify(resources.map((r) => withoutSecrets(r.inputs)));
    expect(plain.match(MARKER)).toBeNull();
    for (const [key, value] of Object.entries(outputs)) {
      if (pulumi.Output.isInstance(value) && (await pulumi.isSecret(value))) continue;
      const resolved = pulumi.Output.isInstance(value) ? await new Promise((r) => value.apply(r)) : value;
      expect(JSON.stringify(resolved).match(MARKER), key).toBeNull();
    }
  });

  it('does carry the credentials, inside secrets (so the check above can fail)', () => {
    const secretText = JSON.stringify(resources.map((r) => unwrapSecrets(r.inputs)));
    for (const m of MARKERS) expect(secretText, m).toContain(m);
  });
});

describe('bootstrap program: outputs', () => {
  it('tells the user where things are and how to get the admin password', async () => {
    expect(outputs).toMatchObject({
      giteaUrl: 'http://gitea.dgx.local/',
      registryHost: 'gitea.dgx.local',
      gitopsRepository: 'http://gitea.dgx.local/raibid/raibid-ci.git',
      giteaAdminUser: 'raibid-admin',
      giteaBotUser: 'raibid-bot',
      giteaAdminPasswordCommand: 'pulumi stack output giteaAdminPassword --show-secrets',
      k3sVersion: K3S_VERSION,
      fluxVersion: FLUX_VERSION,
    });
    expect(outputs.apiWebhookUrl).toBe('http://raibid-api.ci.svc.cluster.local/api/v1/webhooks/gitea');
    expect(await new Promise((r) => outputs.node.apply(r))).toMatchObject({ arch: 'aarch64', cores: '20' });
    expect(parse(await new Promise<string>((r) => outputs.kubeconfig.apply(r))).clusters[0].cluster.server).toBe('https://192.168.1.50:6443');
  });
});

describe('Pulumi project', () => {
  const project = parse(readFileSync('Pulumi.yaml', 'utf8'));

  it('runs src/bootstrap/index.ts on Node with tsx, as the project is an ES module', () => {
    expect(project).toMatchObject({ name: CONFIG_NAMESPACE, main: 'src/bootstrap/index.ts', runtime: { name: 'nodejs', options: { typescript: false, nodeargs: '--import tsx' } } });
    expect(JSON.parse(readFileSync('package.json', 'utf8')).type).toBe('module');
  });

  it('loads the entry point the way the Pulumi language host does (dynamic import, default export)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('./src/bootstrap/index.ts'); console.log(Object.keys(m).join(','), typeof m.default);"], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('default function');
  });

  it('ships an example stack config with every required key and no secret', () => {
    const example = parse(readFileSync('Pulumi.example.yaml', 'utf8')).config as Record<string, unknown>;
    expect(Object.keys(example).sort()).toEqual(['raibid-ci:host', 'raibid-ci:hostKey', 'raibid-ci:sshKeyPath', 'raibid-ci:sshUser']);
    expect(JSON.stringify(example)).not.toMatch(/secure|PRIVATE KEY/);
  });
});
