/**
 * raibid-ci's own images (images/, src/images/): the Dockerfiles, the content tags synth derives from
 * their inputs, the build Jobs of the images layer, and the input fetcher those Jobs run, against a
 * Gitea and registry stand-in on loopback. Offline: nothing is pulled or built here.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'cdk8s';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_DRAIN_COMMAND, AGENT_HOME, AGENT_UID, CARGO_HOME, SCCACHE_DIR } from '../src/agents/contract.js';
import { API_UID } from '../src/api/api.js';
import { bundleRaibid } from '../src/images/bundle.js';
import { API_IMAGE, AGENT_TOOLCHAINS, IMAGE_NAMES, NODE_BASE_IMAGE, agentImageName, imageDockerfile } from '../src/images/catalog.js';
import { BUNDLE_ENTRY_PATH, BUNDLE_TOOLING, REPO_ROOT, computeImageSources, imageSources, inputsManifest, manifestTag } from '../src/images/inputs.js';
import { BUILD_SCRIPT, EXIT_INPUTS_MISMATCH, ImageBuilds, buildJob, buildJobName, fetchScript } from '../src/images/builds.js';
import { POD_SECURITY_EXCEPTIONS } from '../src/policy/exceptions.js';
import { SECRETS } from '../src/secrets/catalog.js';
import { LAYER_PATHS } from '../src/gitops/component.js';
import { MIXED_POOLS, allObjects, config, findObject, objectsUnder, podSpecOf, synthFiles, type K8sObject } from './helpers.js';

const run = promisify(execFile);
const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `raibid-images-${prefix}-`));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------
// Dockerfiles

interface Instruction {
  readonly op: string;
  readonly args: string;
  /** Index of the stage (FROM) the instruction belongs to. */
  readonly stage: number;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    pending += `${line.replace(/\\$/, '')} `;
    if (line.endsWith('\\')) continue;
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(pending.trim()) ?? [];
    pending = '';
    if (op.toUpperCase() === 'FROM') stage++;
    out.push({ op: op.toUpperCase(), args: args.trim(), stage });
  }
  return out;
}

const dockerfile = (name: string) => readFileSync(join(REPO_ROOT, imageDockerfile(name)), 'utf8');

/** `FROM ref [AS name]` of every stage. */
function stages(ins: readonly Instruction[]): { ref: string; name?: string }[] {
  return ins.filter((i) => i.op === 'FROM').map((i) => {
    const [ref, as, name] = i.args.split(/\s+/);
    return { ref, ...(as?.toUpperCase() === 'AS' ? { name } : {}) };
  });
}

/** Sources of a COPY/ADD (flags dropped, destination dropped; JSON form understood). */
function sources(args: string): { from?: string; srcs: string[] } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  const list = rest.join(' ').startsWith('[') ? (JSON.parse(rest.join(' ')) as string[]) : rest;
  return { ...(from ? { from } : {}), srcs: list.slice(0, -1) };
}

describe('the Dockerfiles', () => {
  it('exist for every image of the catalogue, and the catalogue has every images/<name>/Dockerfile', () => {
    const folders = readdirSync(join(REPO_ROOT, 'images')).filter((d) => existsSync(join(REPO_ROOT, 'images', d, 'Dockerfile'))).sort();
    expect(folders).toEqual([...IMAGE_NAMES].sort());
    expect(IMAGE_NAMES).toEqual([API_IMAGE, ...AGENT_TOOLCHAINS.map(agentImageName)]);
  });

  for (const name of IMAGE_NAMES) {
    describe(name, () => {
      const ins = instructions(dockerfile(name));
      const all = stages(ins);
      const final = all.length - 1;
      const stageNames = new Set(all.flatMap((s) => (s.name ? [s.name] : [])));
      const inputs = new Set(imageSources().get(name)!.inputs);

      it('pins every base image to a version tag or digest (never latest), from a registry named in full', () => {
        for (const { ref } of all) {
          if (stageNames.has(ref)) continue;
          expect(ref, ref).toMatch(/^docker\.io\/[a-z0-9._/-]+(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/);
          expect(ref, ref).not.toMatch(/:latest$/);
          expect(ref, `${ref} needs a version, not a moving major tag`).toMatch(/(:v?\d+\.\d+\.\d+[\w.-]*|@sha256:[a-f0-9]{64})$/);
        }
      });

      it('runs the final stage as the numeric non-root user 1000', () => {
        const users = ins.filter((i) => i.op === 'USER' && i.stage === final);
        expect(users.length).toBeGreaterThan(0);
        const user = users[users.length - 1].args;
        expect(user).toMatch(/^\d+(:\d+)?$/);
        expect(user.split(':').map(Number)).toEqual([1000, 1000]);
        expect(API_UID).toBe(1000);
        expect(AGENT_UID).toBe(1000);
      });

      it('adds nothing from a URL (ADD is not used at all)', () => {
        for (const i of ins.filter((x) => x.op === 'ADD')) {
          expect(sources(i.args).srcs.some((s) => /^(https?:|git@|git:)/.test(s)), i.args).toBe(false);
        }
        expect(ins.filter((i) => i.op === 'ADD')).toEqual([]);
      });

      it('copies only files that exist and that are inputs of its tag (the in-cluster build context is exactly those)', () => {
        const copies = ins.filter((i) => i.op === 'COPY').map((i) => sources(i.args));
        const fromContext = copies.filter((c) => c.from === undefined).flatMap((c) => c.srcs);
        expect(fromContext.length).toBeGreaterThan(0);
        for (const src of fromContext) {
          expect(existsSync(join(REPO_ROOT, src)), `${src} exists`).toBe(true);
          const covered = statSync(join(REPO_ROOT, src)).isDirectory() ? [...inputs].some((f) => f.startsWith(src.replace(/\/?$/, '/'))) : inputs.has(src);
          expect(covered, `${src} is an input of ${name}`).toBe(true);
        }
        for (const c of copies.filter((x) => x.from !== undefined)) {
          expect(stageNames.has(c.from!) || /^docker\.io\/.+:.+/.test(c.from!), `--from=${c.from}`).toBe(true);
        }
      });

      it('builds the bundle from the sources in a build stage and carries only that file, no node_modules', () => {
        const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args);
        expect(runs.some((r) => r.includes('npm ci'))).toBe(true);
        expect(runs.some((r) => r.includes('src/images/bundle.ts /out/raibid.mjs'))).toBe(true);
        const finalCopies = ins.filter((i) => i.op === 'COPY' && i.stage === final).map((i) => sources(i.args));
        expect(finalCopies.flatMap((c) => c.srcs).some((s) => s.includes('node_modules'))).toBe(false);
        expect(finalCopies.filter((c) => c.from === undefined)).toEqual([]);
        expect(finalCopies).toContainEqual({ from: 'bundle', srcs: ['/out/raibid.mjs'] });
      });

      it('has the bundled raibid command as its entrypoint, on PATH', () => {
        const finalOf = (op: string) => ins.filter((i) => i.op === op && i.stage === final).map((i) => i.args);
        expect(finalOf('ENTRYPOINT').at(-1)).toBe('["raibid"]');
        expect(finalOf('CMD').at(-1)).toBe(name === API_IMAGE ? '["api"]' : '["agent"]');
        expect(finalOf('RUN').some((r) => r.includes('ln -s /opt/raibid/raibid.mjs /usr/local/bin/raibid'))).toBe(true);
        // The preStop drain hook runs the same command by name.
        expect(AGENT_DRAIN_COMMAND[0]).toBe('raibid');
      });

      it('starts from the Node base the build Jobs run (one Node version)', () => {
        expect(all.map((s) => s.ref)).toContain(NODE_BASE_IMAGE);
      });
    });
  }

  describe('agent-rust (the default toolchain)', () => {
    const text = dockerfile('agent-rust');
    const ins = instructions(text);
    const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');

    it('carries the Rust toolchain with clippy and rustfmt, sccache, cargo-nextest, cargo-audit, git, ca-certificates, buildctl and Node', () => {
      expect(runs).toContain('rustup component add clippy rustfmt');
      for (const crate of ['sccache', 'cargo-nextest', 'cargo-audit']) expect(runs).toMatch(new RegExp(`cargo install --locked --root /out --version \\d+\\.\\d+\\.\\d+ .*\\b${crate}\\b`));
      expect(runs).toMatch(/apt-get install .*ca-certificates.*git/);
      expect(text).toContain('COPY --from=buildkit /usr/bin/buildctl /usr/local/bin/buildctl');
      expect(text).toContain('COPY --from=node /usr/local/bin/node /usr/local/bin/node');
      expect(stages(ins)[stages(ins).length - 1].ref).toMatch(/^docker\.io\/library\/rust:\d+\.\d+\.\d+-slim-bookworm$/);
    });

    it('takes buildctl from the BuildKit image the daemon runs (client and daemon versions match)', () => {
      expect(stages(ins).find((s) => s.name === 'buildkit')?.ref).toBe(config().buildkit.image);
    });

    it('prepares the mounts the agent pods get, and the same environment', () => {
      expect(text).toContain(`HOME=${AGENT_HOME}`);
      expect(text).toContain(`CARGO_HOME=${CARGO_HOME}`);
      expect(text).toContain(`SCCACHE_DIR=${SCCACHE_DIR}`);
      expect(runs).toContain(`mkdir -p /workspace ${AGENT_HOME} ${CARGO_HOME} ${SCCACHE_DIR}`);
      const agent = podSpecOf(findObject(objectsUnder('apps/agents/'), 'ScaledJob', 'agent-rust')).containers[0];
      expect(agent.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(agent.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(['/cache/cargo', '/cache/sccache', '/home/agent', '/tmp', '/workspace']);
      expect(agent.command).toBeUndefined();
    });
  });

  it('the bundle runs as the `raibid` command through a symlink without an extension, from an empty folder', async () => {
    const dir = tempDir('bundle');
    const { outfile } = await bundleRaibid(join(dir, 'opt', 'raibid.mjs'));
    expect(readFileSync(outfile, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    mkdirSync(join(dir, 'bin'));
    symlinkSync(outfile, join(dir, 'bin', 'raibid'));
    chmodSync(outfile, 0o755);
    const empty = tempDir('cwd');
    const r = await run(join(dir, 'bin', 'raibid'), ['--version'], { cwd: empty, env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

// ---------------------------------------------------------------------------------------------------
// Tags

/** A copy of every file the image tags read (and the image folders) in a temporary folder. */
function copyOfInputs(): string {
  const dir = tempDir('inputs');
  const files = new Set([...imageSources().values()].flatMap((s) => s.inputs));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(REPO_ROOT, f), join(dir, f));
  }
  return dir;
}

const tagsOf = (root: string) => Object.fromEntries([...computeImageSources(root).values()].map((s) => [s.name, s.tag]));

describe('content tags', () => {
  const sources = imageSources();

  it('are the hash of a sha256sum manifest of each image\'s inputs', () => {
    for (const s of sources.values()) {
      expect(s.tag).toMatch(/^[0-9a-f]{16}$/);
      expect(s.tag).toBe(manifestTag(s.manifest));
      expect(s.manifest).toBe(inputsManifest(REPO_ROOT, s.inputs));
      expect(s.manifest.split('\n').filter(Boolean).map((l) => l.slice(66))).toEqual(s.inputs);
    }
  });

  it('cover the Dockerfile, the lockfile, the bundler and every source the bundle reaches, and nothing of the stack', () => {
    const api = sources.get(API_IMAGE)!.inputs;
    expect(api).toEqual(expect.arrayContaining([imageDockerfile(API_IMAGE), ...BUNDLE_TOOLING, BUNDLE_ENTRY_PATH, 'src/cli/main.ts', 'src/api/server/main.ts', 'src/agents/runner/main.ts', 'src/agents/contract.ts']));
    expect(api).not.toContain(imageDockerfile('agent-rust'));
    for (const stack of ['src/buildkit/buildkit.ts', 'src/api/api.ts', 'src/images/builds.ts', 'src/app.ts']) expect(api).not.toContain(stack);
  });

  it('are the same computed from a copy of the inputs alone', () => {
    expect(tagsOf(copyOfInputs())).toEqual(Object.fromEntries([...sources.values()].map((s) => [s.name, s.tag])));
  });

  it('change exactly for the image whose Dockerfile changed', () => {
    const dir = copyOfInputs();
    const before = tagsOf(dir);
    writeFileSync(join(dir, imageDockerfile(API_IMAGE)), `${readFileSync(join(dir, imageDockerfile(API_IMAGE)), 'utf8')}LABEL changed=yes\n`);
    const after = tagsOf(dir);
    expect(after[API_IMAGE]).not.toBe(before[API_IMAGE]);
    for (const name of IMAGE_NAMES.filter((n) => n !== API_IMAGE)) expect(after[name]).toBe(before[name]);
  });

  it('change for every image carrying the runtime when runtime code or the lockfile changes', () => {
    for (const file of ['src/agents/runner/job.ts', 'package-lock.json', 'src/images/bundle.ts']) {
      const dir = copyOfInputs();
      const before = tagsOf(dir);
      writeFileSync(join(dir, file), `${readFileSync(join(dir, file), 'utf8')}\n`);
      const after = tagsOf(dir);
      for (const name of IMAGE_NAMES) expect(after[name], `${file} → ${name}`).not.toBe(before[name]);
    }
  });

  it('follow a new import, and ignore files the bundle does not reach', () => {
    const dir = copyOfInputs();
    const before = tagsOf(dir);
    writeFileSync(join(dir, 'src/buildkit-notes.ts'), 'export const unused = 1;\n');
    expect(tagsOf(dir)).toEqual(before);
    writeFileSync(join(dir, 'src/cli/extra.ts'), 'export const extra = 2;\n');
    writeFileSync(join(dir, 'src/cli/version.ts'), `${readFileSync(join(dir, 'src/cli/version.ts'), 'utf8')}export { extra } from './extra.js';\n`);
    const after = computeImageSources(dir);
    expect(after.get(API_IMAGE)!.inputs).toContain('src/cli/extra.ts');
    expect(after.get(API_IMAGE)!.tag).not.toBe(before[API_IMAGE]);
  });

  it('fails naming the missing Dockerfile of a catalogued image', () => {
    const dir = copyOfInputs();
    expect(() => computeImageSources(dir, [...IMAGE_NAMES, 'agent-node'])).toThrow('images/agent-node/Dockerfile is missing: every image of src/images/catalog.ts (IMAGE_NAMES, AGENT_TOOLCHAINS) needs a Dockerfile in its folder');
  });
});

// ---------------------------------------------------------------------------------------------------
// Build Jobs

const MIXED = `${MIXED_POOLS}    - name: custom
      image: registry.example/ci/agent-custom:3.1.0
      maxReplicas: 1
`;

/** Every container image a workload of the tree runs (direct pools' Job templates included). */
function workloadImages(objs: readonly K8sObject[]): Set<string> {
  const out = new Set<string>();
  const add = (spec: Record<string, any> | undefined) => {
    for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) out.add(c.image);
  };
  for (const o of objs) {
    if (o.metadata.namespace === 'images') continue;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ScaledJob'].includes(o.kind)) add(podSpecOf(o));
    if (o.kind === 'ConfigMap' && o.data?.['job.yaml']) add(parse(o.data['job.yaml']).spec.template.spec);
  }
  return out;
}

describe('the build Jobs (infrastructure/images/builds)', () => {
  const builds = objectsUnder('infrastructure/images/builds/');
  const jobs = builds.filter((o) => o.kind === 'Job');
  const env = (o: K8sObject, container: string, name: string) => {
    const spec = podSpecOf(o);
    return [...spec.initContainers, ...spec.containers].find((c: { name: string }) => c.name === container).env.find((e: { name: string }) => e.name === name);
  };

  it('are one per image the workloads run, named <image>-<tag>, and build exactly the references the workloads pull', () => {
    for (const yaml of ['', MIXED]) {
      const objs = allObjects(yaml);
      const c = config(yaml);
      const ours = [...workloadImages(objs)].filter((i) => i.startsWith(`${c.registryHost}/`)).sort();
      const js = objs.filter((o) => o.kind === 'Job' && o.metadata.namespace === 'images');
      expect(js.map((j) => env(j, 'build', 'IMAGE_REF').value).sort()).toEqual(ours);
      for (const j of js) {
        const image = j.metadata.labels!['raibid-ci.dev/image'];
        const tag = j.metadata.labels!['raibid-ci.dev/image-tag'];
        expect(j.metadata.name).toBe(`${image}-${tag}`);
        expect(tag).toBe(imageSources().get(image)!.tag);
        expect(env(j, 'build', 'IMAGE_REF').value).toBe(`${c.registryHost}/${c.gitea.admin.username}/${image}:${tag}`);
        expect(env(j, 'fetch', 'IMAGE_TAG').value).toBe(tag);
      }
    }
    expect(jobs.map((j) => j.metadata.name).sort()).toEqual([buildJobName(imageSources().get('agent-rust')!), buildJobName(imageSources().get(API_IMAGE)!)].sort());
  });

  it('build nothing for images the config brings itself', () => {
    const own = 'api:\n  image: registry.example/ci/api:1.0.0\nagents:\n  pools:\n    - name: rust\n      image: registry.example/ci/agent:1.0.0\n';
    expect(objectsUnder('infrastructure/images/builds/', own)).toEqual([]);
    expect(new ImageBuilds(new App(), 'builds', { config: config(own) }).images).toEqual([]);
  });

  it('carry the inputs manifest of their tag in an immutable ConfigMap named after it', () => {
    for (const j of jobs) {
      const cm = findObject(builds, 'ConfigMap', `${j.metadata.name}-inputs`, 'images');
      expect(cm.immutable).toBe(true);
      const manifest = cm.data['inputs.sha256'];
      expect(manifestTag(manifest)).toBe(j.metadata.labels!['raibid-ci.dev/image-tag']);
      expect(podSpecOf(j).volumes).toContainEqual({ name: 'inputs', configMap: { name: `${j.metadata.name}-inputs` } });
    }
    expect(findObject(builds, 'ConfigMap', 'image-build', 'images').data['fetch-inputs.mjs']).toBe(fetchScript());
  });

  it('read the GitOps repository and push with the admin\'s catalogued token, by reference only', () => {
    const j = jobs[0];
    expect(env(j, 'fetch', 'GITEA_TOKEN').valueFrom).toEqual({ secretKeyRef: { name: 'image-builder', key: 'token' } });
    expect(env(j, 'fetch', 'GITEA_USER').valueFrom).toEqual({ secretKeyRef: { name: 'image-builder', key: 'username' } });
    expect(env(j, 'fetch', 'GITOPS_REPO').value).toBe('raibid/raibid-ci');
    expect(env(j, 'fetch', 'GITOPS_BRANCH').value).toBe('main');
    const spec = SECRETS.find((s) => s.name === 'image-builder')!;
    expect(spec.namespace).toBe('images');
    expect(spec.keys.token).toEqual({ from: 'gitea-token', user: 'admin', scopes: ['read:repository', 'write:package'] });
    expect(synthFiles().has('infrastructure/images/builds/secret-image-builder.yaml')).toBe(false);
  });

  it('build with the BuildKit daemon through buildctl, skipping when the tag is pushed, and fail at once on other inputs', () => {
    const j = jobs[0];
    const build = podSpecOf(j).containers[0];
    expect(build.image).toBe(config().buildkit.image);
    expect(build.command).toEqual(['sh', '-c', BUILD_SCRIPT]);
    expect(BUILD_SCRIPT).toContain('if [ -f /work/skip ]; then cat /work/skip; exit 0; fi');
    expect(BUILD_SCRIPT).toContain('--output "type=image,name=$IMAGE_REF,push=true$REGISTRY_INSECURE"');
    expect(env(j, 'build', 'BUILDKIT_HOST').value).toBe('tcp://buildkitd.buildkit.svc.cluster.local:1234');
    expect(env(j, 'build', 'REGISTRY_INSECURE').value).toBe(',registry.insecure=true');
    expect(podSpecOf(j).initContainers[0]).toMatchObject({ name: 'fetch', image: NODE_BASE_IMAGE, command: ['node', '/etc/image-build/fetch-inputs.mjs'] });
    expect(j.spec.podFailurePolicy.rules).toEqual([{ action: 'FailJob', onExitCodes: { containerName: 'fetch', operator: 'In', values: [EXIT_INPUTS_MISMATCH] } }]);
    expect(j.spec.activeDeadlineSeconds).toBe(3600);
    const c = config();
    const tls = buildJob({ ...c, gitea: { ...c.gitea, registry: { ...c.gitea.registry, tls: true } } }, c.images.built[0]).spec!.template.spec!.containers[0];
    expect(tls.env!.find((e) => e.name === 'REGISTRY_INSECURE')!.value).toBe('');
  });

  it('are ordinary restricted pods in their own namespace: no exception is added', () => {
    expect(POD_SECURITY_EXCEPTIONS.map((e) => e.namespaceKey)).toEqual(['buildkit']);
    const ns = findObject(allObjects(), 'Namespace', 'images');
    expect(ns.metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const j of jobs) {
      const spec = podSpecOf(j);
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of [...spec.initContainers, ...spec.containers]) {
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
      }
    }
  });

  it('reach Gitea and the BuildKit daemon, and nothing else', () => {
    const np = findObject(builds, 'NetworkPolicy', 'image-build', 'images');
    expect(np.spec.policyTypes).toEqual(['Egress']);
    expect(np.spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infrastructure' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitea', 'app.kubernetes.io/part-of': 'raibid-ci' } } }], ports: [{ protocol: 'TCP', port: 3000 }] },
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'buildkit' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'buildkitd', 'app.kubernetes.io/part-of': 'raibid-ci' } } }], ports: [{ protocol: 'TCP', port: 1234 }] },
    ]);
  });

  it('sit in the images layer after BuildKit, which the apps layer waits for', () => {
    expect(LAYER_PATHS.images).toBe('infrastructure/images');
    const layer = parse(synthFiles().get('infrastructure/images/kustomization.yaml')!.split('\n').slice(1).join('\n'));
    expect(layer.resources).toEqual(['buildkit', 'builds']);
    const ks = (name: string) => findObject(objectsUnder('clusters/dgx-spark/'), 'Kustomization', name).spec;
    expect(ks('apps').dependsOn).toEqual([{ name: 'infra-images' }]);
    expect(ks('infra-images').dependsOn).toEqual([{ name: 'infra-configs' }]);
    expect(ks('infra-images').wait).toBe(true);
  });

  it('matches the snapshot (tags masked)', () => {
    const masked = JSON.parse(maskTags(JSON.stringify(builds.filter((o) => o.kind !== 'ConfigMap' || o.metadata.name === 'image-build').map((o) => (o.metadata.name === 'image-build' && o.kind === 'ConfigMap' ? { ...o, data: { 'fetch-inputs.mjs': '<script>' } } : o)))));
    expect(masked).toMatchSnapshot();
  });
});

function maskTags(text: string): string {
  return [...imageSources().values()].reduce((s, i) => s.split(i.tag).join(`<tag:${i.name}>`), text);
}

// ---------------------------------------------------------------------------------------------------
// The input fetcher (src/images/fetch-inputs.mjs) against a Gitea and registry stand-in

interface StandIn {
  readonly url: string;
  /** Requests seen, `METHOD path`. */
  readonly seen: string[];
  /** Tags the registry has. */
  readonly tags: Set<string>;
  /** path → content at the branch head. */
  readonly files: Map<string, Buffer>;
}

const USER = 'raibid-admin';
const TOKEN = 'gitea-token-7c1e9a2b4d6f8a0c';
const COMMIT = 'a'.repeat(40);
const REPO = 'raibid/raibid-ci';

function standIn(): Promise<{ server: Server; s: StandIn }> {
  const s = { url: '', seen: [] as string[], tags: new Set<string>(), files: new Map<string, Buffer>() };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    s.seen.push(`${req.method} ${url.pathname}`);
    const auth = req.headers.authorization ?? '';
    const end = (status: number, body: string | Buffer = '', headers: Record<string, string> = {}) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    let m: RegExpExecArray | null;
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname))) {
      // Gitea's registry: a bearer challenge whose realm is on the public URL.
      if (auth !== 'Bearer registry-token') return end(401, '', { 'www-authenticate': 'Bearer realm="http://gitea.dgx.local/v2/token",service="container_registry",scope="*"' });
      return end(s.tags.has(`${m[1]}:${m[2]}`) ? 200 : 404);
    }
    if (url.pathname === '/v2/token') {
      const ok = auth === `Basic ${Buffer.from(`${USER}:${TOKEN}`).toString('base64')}` && url.searchParams.get('service') === 'container_registry';
      return ok ? end(200, JSON.stringify({ token: 'registry-token' }), { 'content-type': 'application/json' }) : end(401);
    }
    if (auth !== `token ${TOKEN}`) return end(401);
    if (url.pathname === `/api/v1/repos/${REPO}/branches/main`) return end(200, JSON.stringify({ name: 'main', commit: { id: COMMIT } }), { 'content-type': 'application/json' });
    const raw = `/api/v1/repos/${REPO}/raw/`;
    if (url.pathname.startsWith(raw) && url.searchParams.get('ref') === COMMIT) {
      const file = s.files.get(decodeURIComponent(url.pathname.slice(raw.length)));
      return file ? end(200, file) : end(404);
    }
    end(404);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, s: { ...s, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } })));
}

describe('the input fetcher of a build Job', () => {
  let server: Server;
  let gitea: StandIn;
  let script: string;
  const FILES: Record<string, string> = { 'images/raibid-api/Dockerfile': 'FROM scratch\n', 'package.json': '{}\n', 'src/cli/entry.ts': 'export {};\n' };
  const source = tempDir('source');
  for (const [path, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(source, path)), { recursive: true });
    writeFileSync(join(source, path), text);
  }
  const manifest = inputsManifest(source, Object.keys(FILES).sort());
  const tag = manifestTag(manifest);

  beforeAll(async () => {
    ({ server, s: gitea } = await standIn());
    script = join(tempDir('script'), 'fetch-inputs.mjs');
    writeFileSync(script, fetchScript());
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function fetchInputs(overrides: Record<string, string> = {}): Promise<{ code: number; out: string; work: string; docker: string }> {
    const dir = tempDir('job');
    writeFileSync(join(dir, 'inputs.sha256'), manifest);
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GITEA_URL: gitea.url,
      GITOPS_REPO: REPO,
      GITOPS_BRANCH: 'main',
      GITEA_USER: USER,
      GITEA_TOKEN: TOKEN,
      REGISTRY_HOST: 'gitea.dgx.local',
      IMAGE_REPOSITORY: 'gitea.dgx.local/raibid-admin/raibid-api',
      IMAGE_TAG: tag,
      INPUTS_MANIFEST: join(dir, 'inputs.sha256'),
      BUILD_WORK_DIR: join(dir, 'work'),
      DOCKER_CONFIG: join(dir, 'docker'),
      HTTP_TIMEOUT_SECONDS: '5',
      ...overrides,
    };
    try {
      const r = await run(process.execPath, [script], { env, timeout: 30_000 });
      return { code: 0, out: r.stdout + r.stderr, work: env.BUILD_WORK_DIR, docker: env.DOCKER_CONFIG };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, out: err.stdout + err.stderr, work: env.BUILD_WORK_DIR, docker: env.DOCKER_CONFIG };
    }
  }

  it('finishes at once when the tag is already in the registry', async () => {
    gitea.tags.clear();
    gitea.tags.add(`raibid-admin/raibid-api:${tag}`);
    gitea.seen.length = 0;
    const r = await fetchInputs();
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.work, 'skip'), 'utf8')).toBe(`image-build: gitea.dgx.local/raibid-admin/raibid-api:${tag} is already in the registry; nothing to build\n`);
    expect(gitea.seen).toEqual([`HEAD /v2/raibid-admin/raibid-api/manifests/${tag}`, 'GET /v2/token', `HEAD /v2/raibid-admin/raibid-api/manifests/${tag}`]);
    expect(existsSync(join(r.work, 'context'))).toBe(false);
    expect(r.out).not.toContain(TOKEN);
  });

  it('assembles the build context from the branch head when every input matches, with the registry login for buildctl', async () => {
    gitea.tags.clear();
    for (const [path, text] of Object.entries(FILES)) gitea.files.set(path, Buffer.from(text));
    const r = await fetchInputs();
    expect(r.out).toContain(`image-build: building gitea.dgx.local/raibid-admin/raibid-api:${tag} from ${REPO}@${COMMIT} (main), 3 inputs`);
    expect(r.code).toBe(0);
    for (const [path, text] of Object.entries(FILES)) expect(readFileSync(join(r.work, 'context', path), 'utf8')).toBe(text);
    expect(readFileSync(join(r.work, 'commit'), 'utf8')).toBe(`${COMMIT}\n`);
    expect(existsSync(join(r.work, 'skip'))).toBe(false);
    const docker = join(r.docker, 'config.json');
    expect(JSON.parse(readFileSync(docker, 'utf8'))).toEqual({ auths: { 'gitea.dgx.local': { auth: Buffer.from(`${USER}:${TOKEN}`).toString('base64') } } });
    expect(statSync(docker).mode & 0o777).toBe(0o600);
    expect(r.out).not.toContain(TOKEN);
  });

  it('fails with exit 3, naming the files, when the branch does not hold the inputs of the tag', async () => {
    gitea.tags.clear();
    for (const [path, text] of Object.entries(FILES)) gitea.files.set(path, Buffer.from(text));
    gitea.files.set('src/cli/entry.ts', Buffer.from('export const changed = true;\n'));
    gitea.files.delete('package.json');
    const r = await fetchInputs();
    expect(r.code).toBe(EXIT_INPUTS_MISMATCH);
    expect(r.out).toContain(`image-build: branch main of ${REPO} (now at ${COMMIT}) does not hold the inputs tag ${tag} was computed from:`);
    expect(r.out).toContain('  package.json: missing');
    expect(r.out).toMatch(/ {2}src\/cli\/entry\.ts: changed \(expected sha256 [0-9a-f]{12}…, found [0-9a-f]{12}…\)/);
    expect(r.out).not.toContain('images/raibid-api/Dockerfile:');
    expect(existsSync(join(r.work, 'context'))).toBe(false);
    expect(existsSync(join(r.docker, 'config.json'))).toBe(false);
  });

  it('fails when the manifest is not the one of the tag, and on missing settings', async () => {
    const wrong = await fetchInputs({ IMAGE_TAG: '0123456789abcdef' });
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain('does not hash to tag 0123456789abcdef; the Job and its inputs ConfigMap disagree (run npm run synth)');
    const missing = await fetchInputs({ GITEA_TOKEN: '' });
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('image-build: missing environment: GITEA_TOKEN');
  });

  it('fails with exit 1 (retried by the Job) when the registry refuses the credentials', async () => {
    const r = await fetchInputs({ GITEA_TOKEN: 'wrong-token-123456' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('the registry refused a pull token for raibid-admin/raibid-api (HTTP 401); check the image-builder Secret');
    expect(r.out).not.toContain('wrong-token-123456');
  });
});
