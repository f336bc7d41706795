/**
 * Static checks of what the bootstrap and the Flux tree hand to upstream software, against that
 * software's own published description (fixtures in test/fixtures/upstream/, each naming its source,
 * version and commit):
 *
 * - every key of the generated k3s config.yaml is a `k3s server` option;
 * - the FluxInstance validates against the Flux Operator CRD of the pinned operator, unknown fields
 *   rejected (the API server's strict field validation);
 * - Helm values: the Flux Operator chart publishes a values.schema.json, so its values are validated
 *   against it (merged with the chart's defaults, as Helm does) and, stricter than Helm, every key must be
 *   one the schema declares. The KEDA chart publishes none (kedacore/charts v2.20.2 has no
 *   values.schema.json), so every key set must exist in its values.yaml with the same type;
 * - shellcheck passes on every script the bootstrap runs on the machine and every script synthesized into
 *   the Flux tree, for the default config and a non-default one.
 *
 * Each check is shown to fail on an in-memory mutation of what it guards.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fakeSnapshot, installMocks, MOCK_HOST_KEY, MOCK_PRIVATE_KEY, type Registered, settle, unwrapSecrets } from './bootstrap-harness.js';
import { allObjects, config, removeTemp, synthToTemp, type K8sObject } from './helpers.js';
import { checkAgainstSchema, type SchemaNode } from './support/schema-check.js';
import type { RaibidConfig } from '../src/config/resolve.js';
import { readBootstrapBundle, readFluxSync } from '../src/bootstrap/manifests.js';
import { K3S_CONFIG_PATH, k3sConfig } from '../src/bootstrap/k3s-config.js';
import { FLUX_OPERATOR_VERSION } from '../src/bootstrap/versions.js';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(__dirname, 'fixtures/upstream', name), 'utf8')) as T;
const K3S = fixture<{ flags: string[]; disableItems: string[] }>('k3s-server-flags.json');
const FLUX_INSTANCE = fixture<{ operatorVersion: string; group: string; version: string; kind: string; schema: SchemaNode }>('flux-operator-0.58.1-fluxinstance-schema.json');
const FLUX_OPERATOR_VALUES_SCHEMA = fixture<SchemaNode & { 'x-chart-version': string }>('flux-operator-chart-values.schema.json');
const FLUX_OPERATOR_DEFAULTS = parse(readFileSync(join(__dirname, 'fixtures/upstream/flux-operator-chart-values.yaml'), 'utf8')) as Record<string, unknown>;
const KEDA_VALUES = fixture<{ version: string; paths: Record<string, string> }>('keda-2.20.2-values-paths.json');

/** A config unlike the default wherever the generated files and scripts depend on it. */
const OTHER_YAML = [
  'cluster:',
  '  name: lab',
  '  nodeAddress: 192.168.7.20',
  'network:',
  '  apiServerPort: 7443',
  'namespaces:',
  '  infrastructure: infra-x',
  '  ci: ci-x',
  'gitea:',
  '  registry:',
  '    dockerHubMirror: https://mirror.example.org',
  '',
].join('\n');

interface Run {
  readonly label: string;
  readonly config: RaibidConfig;
  readonly resources: Registered[];
  readonly objects: K8sObject[];
}
const runs: Run[] = [];
const dirs: string[] = [];

/** Runs the bootstrap program under mocks against the real synth output of a config. */
async function bootstrapRun(label: string, yaml: string): Promise<Run> {
  const c = config(yaml);
  const dir = synthToTemp(yaml);
  dirs.push(dir);
  const resources = await installMocks();
  const program = await import('../src/bootstrap/program.js');
  const bundle = readBootstrapBundle(dir) as K8sObject[];
  program.runBootstrap({
    stack: { host: '192.168.7.20', sshUser: 'ubuntu', sshPort: 22, sshKeyPath: '/home/u/.ssh/id_ed25519', sshPrivateKey: pulumi.secret(MOCK_PRIVATE_KEY), hostKey: MOCK_HOST_KEY },
    config: c,
    bundle,
    fluxSync: readFluxSync(dir, c),
    repo: fakeSnapshot(dir, c),
  });
  await settle();
  return { label, config: c, resources, objects: [...allObjects(yaml), ...bundle] };
}

beforeAll(async () => {
  runs.push(await bootstrapRun('default config', ''));
  runs.push(await bootstrapRun('non-default config', OTHER_YAML));
}, 60_000);

afterAll(() => dirs.forEach(removeTemp));

const LABELS = ['default config', 'non-default config'] as const;
/** The bootstrap run of a config, by label (the runs exist once beforeAll is done). */
const runOf = (label: string): Run => {
  const run = runs.find((r) => r.label === label);
  if (!run) throw new Error(`no bootstrap run for ${label}`);
  return run;
};

// ---------------------------------------------------------------------------------------------------
// k3s

/** Problems of a k3s config.yaml object against the `k3s server` options of the fixture. */
function k3sProblems(obj: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    // `key+: …` appends to a value set elsewhere (k3s configuration file docs).
    const flag = key.replace(/\+$/, '');
    if (!K3S.flags.includes(flag)) problems.push(`config.yaml key ${JSON.stringify(key)} is not a \`k3s server\` option`);
    if (flag === 'disable') for (const item of [value].flat()) if (!K3S.disableItems.includes(String(item))) problems.push(`disable: ${JSON.stringify(item)} is not a packaged component (${K3S.disableItems.join(', ')})`);
  }
  return problems;
}

/** /etc/rancher/k3s/config.yaml as the bootstrap writes it (the stdin of the step that installs that file). */
function writtenK3sConfig(run: Run): Record<string, unknown> {
  const steps = run.resources.filter((r) => r.type === 'command:remote:Command' && String(unwrapSecrets(r.inputs.create)).includes(K3S_CONFIG_PATH) && typeof unwrapSecrets(r.inputs.stdin) === 'string');
  expect(steps.map((r) => r.name)).toEqual(['raibid-k3s-config']);
  return parse(String(unwrapSecrets(steps[0].inputs.stdin))) as Record<string, unknown>;
}

describe('k3s config.yaml against the k3s server options', () => {
  it.each(LABELS)('uses only k3s server options (%s)', (label) => {
    const obj = writtenK3sConfig(runOf(label));
    expect(obj).toEqual(k3sConfig(runOf(label).config, { host: '192.168.7.20' }));
    expect(Object.keys(obj).length).toBeGreaterThan(5);
    expect(k3sProblems(obj)).toEqual([]);
  });

  it('covers node-ip only when cluster.nodeAddress is set (the non-default config sets it)', () => {
    expect(Object.keys(k3sConfig(config(OTHER_YAML), { host: 'h' }))).toContain('node-ip');
  });

  it('fails on a key k3s does not have, and on a component it cannot disable (mutations)', () => {
    const obj = k3sConfig(config(), { host: 'h' });
    expect(k3sProblems({ ...obj, 'write-kubeconfig-mod': '0600' })).toEqual(['config.yaml key "write-kubeconfig-mod" is not a `k3s server` option']);
    expect(k3sProblems({ ...obj, disable: ['traefik', 'treafik'] })).toEqual(['disable: "treafik" is not a packaged component (coredns, servicelb, traefik, local-storage, metrics-server, runtimes)']);
  });
});

// ---------------------------------------------------------------------------------------------------
// FluxInstance

/** The CEL rules of the CRD, as this test evaluates them (on create: no old object); a rule not listed here fails the test. */
const CEL: Record<string, (self: any) => boolean> = {
  "self.metadata.name == 'flux'": (self) => self.metadata?.name === 'flux',
  "!has(self.sharding) || !has(self.sharding.storage) || self.sharding.storage != 'persistent' || has(self.storage)": (self) => self.sharding?.storage !== 'persistent' || self.storage !== undefined,
  '(has(self.objectLevelWorkloadIdentity) && self.objectLevelWorkloadIdentity) || !has(self.multitenantWorkloadIdentity) || !self.multitenantWorkloadIdentity': (self) =>
    self.objectLevelWorkloadIdentity === true || !self.multitenantWorkloadIdentity,
  "!has(self.provider) || self.provider != 'gcp' || self.kind == 'OCIRepository' || self.kind == 'Bucket'": (self) => self.provider !== 'gcp' || ['OCIRepository', 'Bucket'].includes(self.kind),
  "!has(self.provider) || self.provider != 'github' || self.kind == 'GitRepository'": (self) => self.provider !== 'github' || self.kind === 'GitRepository',
  // A transition rule: never evaluated on create.
  'self == oldSelf': () => true,
};

/** Problems of a FluxInstance against the CRD schema of the fixture (strict: unknown fields rejected). */
function fluxInstanceProblems(obj: Record<string, any>): string[] {
  const problems: string[] = [];
  if (obj.apiVersion !== `${FLUX_INSTANCE.group}/${FLUX_INSTANCE.version}` || obj.kind !== FLUX_INSTANCE.kind) problems.push(`${obj.apiVersion} ${obj.kind} is not ${FLUX_INSTANCE.group}/${FLUX_INSTANCE.version} ${FLUX_INSTANCE.kind}`);
  const result = checkAgainstSchema(obj, FLUX_INSTANCE.schema, { unknownFields: 'reject' });
  problems.push(...result.problems);
  for (const r of result.celRules) {
    const rule = CEL[r.rule];
    if (!rule) throw new Error(`CEL rule at ${r.path} is not evaluated by this test: ${r.rule}`);
    const self = r.path === '<root>' ? obj : r.path.split('.').reduce<any>((x, k) => x?.[k], obj);
    if (self !== undefined && !rule(self)) problems.push(`${r.path}: ${r.message ?? r.rule}`);
  }
  return problems;
}

const fluxInstanceOf = (run: Run): Record<string, any> => {
  const r = run.resources.find((x) => x.type === 'kubernetes:fluxcd.controlplane.io/v1:FluxInstance');
  if (!r) throw new Error(`no FluxInstance among ${run.resources.map((x) => x.type).join(', ')}`);
  // The object as applied: Pulumi's own annotation stays (it is metadata, which the CRD leaves open).
  return unwrapSecrets(r.inputs) as Record<string, any>;
};

describe('FluxInstance against the Flux Operator CRD of the pinned operator', () => {
  it('uses the CRD of the pinned operator version (FLUX_OPERATOR_VERSION)', () => {
    expect(FLUX_INSTANCE.operatorVersion).toBe(FLUX_OPERATOR_VERSION);
  });

  it.each(LABELS)('validates, unknown fields rejected (%s)', (label) => {
    const run = runOf(label);
    const obj = fluxInstanceOf(run);
    expect(Object.keys(obj.spec)).toEqual(expect.arrayContaining(['cluster', 'components', 'distribution']));
    expect(fluxInstanceProblems(obj)).toEqual([]);
  });

  it('fails on an unknown field, a value outside an enum, a missing required field, another name (mutations)', () => {
    const obj = fluxInstanceOf(runs[0]);
    const edit = (f: (o: Record<string, any>) => void) => {
      const o = structuredClone(obj);
      f(o);
      return fluxInstanceProblems(o);
    };
    expect(edit((o) => (o.spec.cluster.multiTenant = false))).toEqual(['spec.cluster.multiTenant: unknown field (not in the schema)']);
    expect(edit((o) => (o.spec.sync = { kind: 'GitRepository' }))).toEqual(expect.arrayContaining([expect.stringMatching(/^spec\.sync: missing required field/)]));
    expect(edit((o) => (o.spec.cluster.size = 'tiny'))).toEqual(['spec.cluster.size: "tiny" is not one of ["small","medium","large"]']);
    expect(edit((o) => delete o.spec.distribution.version)).toEqual(['spec.distribution: missing required field "version"']);
    expect(edit((o) => (o.spec.components = ['source-controller', 'image-automation'])).length).toBe(1);
    expect(edit((o) => (o.metadata.name = 'flux2'))).toEqual(["<root>: the only accepted name for a FluxInstance is 'flux'"]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Helm values

/** Helm's merge of user values over chart defaults (maps merge, everything else replaces). */
function mergeValues(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? mergeValues(out[k], v) : v;
  return out;
}

/** Problems of Flux Operator chart values: Helm's schema check on the merged values, plus unknown keys. */
function fluxOperatorValuesProblems(values: Record<string, unknown>): string[] {
  const merged = checkAgainstSchema(mergeValues(FLUX_OPERATOR_DEFAULTS, values), FLUX_OPERATOR_VALUES_SCHEMA, { unknownFields: 'allow' }).problems;
  // Helm ignores a key the chart does not know (a typo silently does nothing): refused here.
  const unknown = checkAgainstSchema(values, FLUX_OPERATOR_VALUES_SCHEMA, { unknownFields: 'reject' }).problems.filter((p) => p.includes('unknown field'));
  return [...merged, ...unknown];
}

/** Leaves of a values object as dotted paths. */
function leaves(v: unknown, path = ''): [string, unknown][] {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length) return Object.entries(v).flatMap(([k, x]) => leaves(x, path ? `${path}.${k}` : k));
  return [[path, v]];
}

/** Problems of KEDA chart values: every key must exist in the chart's values.yaml, with its type. */
function kedaValuesProblems(values: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const typeOf = (x: unknown) => (Array.isArray(x) ? 'array' : x === null ? 'null' : typeof x);
  for (const [path, value] of leaves(values)) {
    const parts = path.split('.');
    // The deepest path of the chart's values.yaml that this key is at or below.
    let known: string | undefined;
    for (let i = parts.length; i > 0 && known === undefined; i--) if (parts.slice(0, i).join('.') in KEDA_VALUES.paths) known = parts.slice(0, i).join('.');
    const upstream = known === undefined ? undefined : KEDA_VALUES.paths[known];
    if (known === undefined) problems.push(`${path}: not a value of the keda chart ${KEDA_VALUES.version}`);
    else if (known !== path && upstream !== 'object' && upstream !== 'null') problems.push(`${path}: ${known} is a ${upstream} in the keda chart ${KEDA_VALUES.version}, not a map`);
    else if (known === path && upstream !== 'null' && upstream !== typeOf(value) && !(upstream === 'object' && typeOf(value) === 'object')) problems.push(`${path}: the keda chart ${KEDA_VALUES.version} has a ${upstream} here, got ${typeOf(value)}`);
  }
  return problems;
}

const helmReleasesOf = (run: Run) => run.objects.filter((o) => o.kind === 'HelmRelease');

describe('Helm chart values against each chart', () => {
  it.each(LABELS)('installs exactly the charts these checks know: flux-operator (bootstrap) and keda (Flux) (%s)', (label) => {
    const run = runOf(label);
    expect(run.resources.filter((r) => r.type === 'kubernetes:helm.sh/v3:Release').map((r) => String(r.inputs.chart).split('/').pop())).toEqual(['flux-operator']);
    expect([...new Set(helmReleasesOf(run).map((o) => o.spec.chart.spec.chart))]).toEqual(['keda']);
  });

  // The chart source of 0.58.1 could not be fetched offline; the fixture is the newest published one
  // (its version is in the fixture). The keys raibid-ci sets have the same shape in both.
  it.each(LABELS)('Flux Operator: values valid against the chart\'s values.schema.json, every key declared by it (%s)', (label) => {
    const run = runOf(label);
    const release = run.resources.find((r) => r.type === 'kubernetes:helm.sh/v3:Release')!;
    const values = unwrapSecrets(release.inputs.values) as Record<string, unknown>;
    expect(Object.keys(values).length).toBeGreaterThan(0);
    expect(fluxOperatorValuesProblems(values)).toEqual([]);
  });

  it('Flux Operator: fails on a mistyped key and on a wrongly typed value (mutations)', () => {
    expect(fluxOperatorValuesProblems({ installCRDs: true, web: { enabeld: false } })).toEqual(['web.enabeld: unknown field (not in the schema)']);
    expect(fluxOperatorValuesProblems({ installCRDs: 'yes', web: { enabled: false } })).toEqual(['installCRDs: expected boolean, got string "yes"']);
  });

  it('KEDA: the pinned default chart version is the one of the values fixture (kedacore/charts publishes no values.schema.json for it)', () => {
    expect(config().keda.chartVersion).toBe(KEDA_VALUES.version);
  });

  it.each(LABELS)('KEDA: every value set exists in the chart\'s values.yaml with the same type (%s)', (label) => {
    const run = runOf(label);
    const [release] = helmReleasesOf(run);
    expect(leaves(release.spec.values).length).toBeGreaterThan(5);
    expect(kedaValuesProblems(release.spec.values)).toEqual([]);
  });

  it('KEDA: fails on a key the chart does not have and on a wrongly typed value (mutations)', () => {
    const [release] = helmReleasesOf(runs[0]);
    const values = structuredClone(release.spec.values);
    values.resources.operatorr = values.resources.operator;
    values.priorityClassName = { name: 'x' };
    expect(kedaValuesProblems(values)).toEqual([
      'priorityClassName.name: priorityClassName is a string in the keda chart 2.20.2, not a map',
      'resources.operatorr.limits.memory: not a value of the keda chart 2.20.2',
      'resources.operatorr.requests.cpu: not a value of the keda chart 2.20.2',
      'resources.operatorr.requests.memory: not a value of the keda chart 2.20.2',
    ]);
    expect(kedaValuesProblems({ crds: { install: 'true' } })).toEqual(['crds.install: the keda chart 2.20.2 has a boolean here, got string']);
  });
});

describe('schema checker', () => {
  it('fails on a schema keyword it does not implement, rather than validating nothing', () => {
    expect(() => checkAgainstSchema({ a: 1 }, { type: 'object', properties: { a: { type: 'integer', multipleOf: 2 } } }, { unknownFields: 'reject' })).toThrow(
      'schema keyword "multipleOf" at a is not supported by test/support/schema-check.ts; teach it before using this fixture',
    );
  });

  it('rejects unknown fields only where the schema lists properties and keeps no unknown fields', () => {
    const schema = { type: 'object', properties: { open: { type: 'object' }, kept: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: {} }, closed: { type: 'object', properties: { a: { type: 'string' } } } } };
    expect(checkAgainstSchema({ open: { x: 1 }, kept: { y: 1 }, closed: { b: 1 } }, schema, { unknownFields: 'reject' }).problems).toEqual(['closed.b: unknown field (not in the schema)']);
    expect(checkAgainstSchema({ closed: { b: 1 } }, schema, { unknownFields: 'allow' }).problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// shellcheck

interface Script {
  /** Where it comes from, e.g. `raibid-k3s-config.create` or `Job/images/x: initContainers[0]`. */
  readonly where: string;
  readonly text: string;
  /** The shell that runs it: `sh` unless the argv or a shebang says bash. */
  readonly shell: 'sh' | 'bash';
}

/** The script of `sh -c <word>`, decoded by a real sh (exactly what the login shell hands over). */
function decodeShC(command: string): string {
  if (!command.startsWith('sh -c ')) throw new Error(`not an sh -c command: ${command.slice(0, 80)}`);
  const r = spawnSync('sh', ['-c', `printf %s ${command.slice('sh -c '.length)}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot decode ${command.slice(0, 80)}: ${r.stderr}`);
  return r.stdout;
}

/** Every script the bootstrap runs on the machine: create/update/delete, and stdin where it is run by `sh -s`. */
function bootstrapScripts(run: Run): Script[] {
  const out: Script[] = [];
  for (const r of run.resources.filter((x) => x.type === 'command:remote:Command')) {
    const inputs = unwrapSecrets(r.inputs) as Record<string, unknown>;
    for (const field of ['create', 'update', 'delete']) {
      if (typeof inputs[field] !== 'string') continue;
      const body = decodeShC(inputs[field] as string);
      out.push({ where: `${r.name}.${field}`, text: body, shell: 'sh' });
      if (/^\s*(sudo\s+)?(ba)?sh -s\b/.test(body) && typeof inputs.stdin === 'string') out.push({ where: `${r.name}.stdin`, text: inputs.stdin, shell: body.includes('bash') ? 'bash' : 'sh' });
    }
  }
  return out;
}

const SHELLS: Record<string, 'sh' | 'bash'> = { sh: 'sh', '/bin/sh': 'sh', bash: 'bash', '/bin/bash': 'bash' };

/** Every script in the Flux tree: `sh -c <script>` argv (containers, exec hooks) and scripts run from a mounted ConfigMap. */
function treeScripts(run: Run): Script[] {
  const out: Script[] = [];
  const configMaps = new Map(run.objects.filter((o) => o.kind === 'ConfigMap').map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, (o.data ?? {}) as Record<string, string>]));
  for (const o of run.objects) {
    const label = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const walk = (v: unknown, path: string, volumes: any[], mounts: any[]): void => {
      if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`, volumes, mounts));
      if (typeof v !== 'object' || v === null) return;
      const x = v as Record<string, any>;
      const vols = Array.isArray(x.volumes) ? x.volumes : volumes;
      const mnts = Array.isArray(x.volumeMounts) ? x.volumeMounts : mounts;
      if (Array.isArray(x.command)) {
        const argv = [...x.command, ...(Array.isArray(x.args) ? x.args : [])].map(String);
        const shell = SHELLS[argv[0]];
        if (shell && argv[1] === '-c') out.push({ where: `${label}: ${path}`, text: argv[2], shell });
        else if (shell && argv[1]) {
          // `sh /dir/script.sh`: the script from the ConfigMap mounted at /dir.
          const mount = mnts.find((m: any) => argv[1].startsWith(`${m.mountPath}/`));
          const volume = mount && vols.find((vo: any) => vo.name === mount.name);
          const data = volume?.configMap && configMaps.get(`${o.metadata.namespace}/${volume.configMap.name}`);
          const text = data?.[argv[1].slice(mount.mountPath.length + 1)];
          if (typeof text !== 'string') throw new Error(`${label}: ${path} runs ${argv[1]}, which is not a script of a mounted ConfigMap`);
          out.push({ where: `${label}: ${path} (${argv[1]})`, text, shell });
        }
      } else if (Array.isArray(x.args) && SHELLS[x.args[0]] && x.args[1] === '-c') out.push({ where: `${label}: ${path}.args`, text: x.args[2], shell: SHELLS[x.args[0]] });
      for (const [k, y] of Object.entries(x)) walk(y, path ? `${path}.${k}` : k, vols, mnts);
    };
    walk(o, '', [], []);
  }
  // A .sh file in a ConfigMap is a script even before something runs it.
  for (const [id, data] of configMaps) for (const [key, text] of Object.entries(data)) if (key.endsWith('.sh')) out.push({ where: `ConfigMap/${id}: ${key}`, text, shell: /^#!.*\bbash\b/.test(text) ? 'bash' : 'sh' });
  return out;
}

/** Scripts deduplicated by (shell, text), keeping the first place each is found. */
function distinct(scripts: readonly Script[]): Script[] {
  const seen = new Map<string, Script>();
  for (const s of scripts) if (!seen.has(`${s.shell}\0${s.text}`)) seen.set(`${s.shell}\0${s.text}`, s);
  return [...seen.values()];
}

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

/**
 * Findings left out, each for a reason that holds for every script here (everything else, down to style
 * notes, fails the test):
 * - SC1091: a file the script sources on the machine (/etc/os-release) cannot be followed here;
 * - SC2317: the shared Gitea prelude (giteaPrelude) defines api, send and status for every Gitea script,
 *   and shellcheck reports the helpers one script does not call as unreachable.
 */
const EXCLUDED = ['SC1091', 'SC2317'];

/** shellcheck findings of each script (`where (shell): findings`); empty when all pass. One shellcheck run per shell. */
function shellcheck(scripts: readonly Script[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-shellcheck-'));
  try {
    const files = scripts.map((s, i) => {
      const file = join(dir, `script-${i}.sh`);
      writeFileSync(file, s.text);
      return file;
    });
    const findings = new Map<string, string[]>();
    for (const shell of ['sh', 'bash'] as const) {
      const mine = files.filter((_, i) => scripts[i].shell === shell);
      if (!mine.length) continue;
      const r = spawnSync('shellcheck', ['--shell', shell, '--severity', 'style', '--exclude', EXCLUDED.join(','), '--format', 'gcc', ...mine], { encoding: 'utf8' });
      if (r.status !== 0 && r.status !== 1) throw new Error(`shellcheck failed (${r.status}): ${r.stderr}`);
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const file = line.slice(0, line.indexOf(':'));
        findings.set(file, [...(findings.get(file) ?? []), line.slice(file.length + 1)]);
      }
    }
    return files.flatMap((f, i) => (findings.has(f) ? [`${scripts[i].where} (shellcheck -s ${scripts[i].shell}):\n${findings.get(f)!.join('\n')}`] : []));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasShellcheck)('shellcheck on every generated script', () => {
  it.each(LABELS)('finds every bootstrap script: each remote command and its `sh -s` stdin (%s)', (label) => {
    const run = runOf(label);
    const scripts = bootstrapScripts(run);
    const commands = run.resources.filter((r) => r.type === 'command:remote:Command').length;
    expect(commands).toBeGreaterThan(10);
    expect(scripts.length).toBeGreaterThanOrEqual(commands);
    expect(scripts.map((s) => s.where)).toContain('raibid-preflight-check.stdin');
  });

  it.each(LABELS)('finds every script of the Flux tree (%s)', (label) => {
    const run = runOf(label);
    const where = treeScripts(run).map((s) => s.where).join('\n');
    // The Gitea configure script, the Redis ACL and stream scripts, the image build Jobs, the cache prune.
    for (const expected of [/Deployment\/.*\/gitea: .*initContainers\[0\]\.args/, /build-acl\.sh/, /init-streams\.sh/, /Job\/images\/.*containers\[0\]/, /CronJob\/.*cache-prune/]) expect(where).toMatch(expected);
  });

  it.each(LABELS)('passes shellcheck on every bootstrap script (%s)', (label) => {
    const run = runOf(label);
    expect(shellcheck(distinct(bootstrapScripts(run)))).toEqual([]);
  });

  it.each(LABELS)('passes shellcheck on every script of the Flux tree (%s)', (label) => {
    const run = runOf(label);
    expect(shellcheck(distinct(treeScripts(run)))).toEqual([]);
  });

  it('fails on a script with a finding, style notes included (mutations)', () => {
    expect(shellcheck([{ where: 'mutated', text: 'set -eu\nfor i in 1 2; do sleep 1; done\n', shell: 'sh' }])[0]).toMatch(/SC2034/);
    expect(shellcheck([{ where: 'mutated', text: '[ -s a ] && [ -s b ] || { echo missing; exit 1; }\n', shell: 'sh' }])[0]).toMatch(/SC2015/);
    const findings = shellcheck([{ where: 'mutated', text: 'set -eu\ntmp=$(mktemp)\nrm -f $tmp\n', shell: 'sh' }]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatch(/SC2086/);
  });
});

if (!hasShellcheck) {
  describe('shellcheck on every generated script', () => {
    it.skip('skipped: shellcheck is not installed (apt-get install shellcheck; .ci/run installs it)', () => {});
  });
}
