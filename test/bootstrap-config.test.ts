import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeSnapshot, installMocks, MOCK_PRIVATE_KEY, writeKeyFile } from './bootstrap-harness.js';
import { config, removeTemp, synthToTemp } from './helpers.js';
import { snapshotRepository } from '../src/bootstrap/repo-snapshot.js';

type Program = typeof import('../src/bootstrap/program.js');
type StackConfigModule = typeof import('../src/bootstrap/stack-config.js');

let program: Program;
let stackConfig: StackConfigModule;
let dir: string;
let keyDir: string;
let keyPath: string;

function setStack(values: Record<string, string>, secret: string[] = []): void {
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(values).map(([k, v]) => [`raibid-ci:${k}`, v])), secret.map((k) => `raibid-ci:${k}`));
}

beforeAll(async () => {
  await installMocks();
  program = await import('../src/bootstrap/program.js');
  stackConfig = await import('../src/bootstrap/stack-config.js');
  dir = synthToTemp();
  keyDir = mkdtempSync(join(tmpdir(), 'raibid-key-'));
  keyPath = writeKeyFile(keyDir);
});

afterAll(() => {
  removeTemp(dir);
  rmSync(keyDir, { recursive: true, force: true });
});

describe('bootstrap stack config', () => {
  it('reads host, user, port and key', async () => {
    setStack({ host: 'dgx.lan', sshUser: 'ubuntu', sshPort: '2022', sshKeyPath: keyPath });
    const s = stackConfig.readStackConfig();
    expect({ host: s.host, sshUser: s.sshUser, sshPort: s.sshPort, sshKeyPath: s.sshKeyPath }).toEqual({ host: 'dgx.lan', sshUser: 'ubuntu', sshPort: 2022, sshKeyPath: keyPath });
    expect(await pulumi.isSecret(s.sshPrivateKey)).toBe(true);
    expect(await new Promise((r) => s.sshPrivateKey.apply(r))).toBe(MOCK_PRIVATE_KEY);
  });

  it('uses port 22 by default', () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath });
    expect(stackConfig.readStackConfig().sshPort).toBe(22);
  });

  it('reads the key passphrase as a secret', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, sshKeyPassphrase: 'MOCKPASSPHRASE' }, ['sshKeyPassphrase']);
    expect(await pulumi.isSecret(stackConfig.readStackConfig().sshKeyPassphrase!)).toBe(true);
  });

  it('reads the optional GitHub token of the mirrors as a secret; unset, there is none', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, githubToken: 'ghp_MOCKTOKEN' }, ['githubToken']);
    const s = stackConfig.readStackConfig();
    expect(await pulumi.isSecret(s.githubToken!)).toBe(true);
    expect(await new Promise((r) => s.githubToken!.apply(r))).toBe('ghp_MOCKTOKEN');
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath });
    expect(stackConfig.readStackConfig().githubToken).toBeUndefined();
  });

  it('fails with every problem of a wrong stack config (missing host, bad key path)', async () => {
    setStack({ sshUser: 'ubuntu', sshKeyPath: '/nonexistent/id_ed25519' });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot })).rejects.toThrow(
      [
        'Pulumi stack "test" config is invalid (2 problems):',
        '  raibid-ci:host: missing; set it with `pulumi config set raibid-ci:host <IP or DNS name of the machine>`',
        '  raibid-ci:sshKeyPath: cannot read "/nonexistent/id_ed25519" (no such file); set it with `pulumi config set raibid-ci:sshKeyPath ~/.ssh/id_ed25519`',
      ].join('\n'),
    );
  });

  it('fails when nothing is configured', () => {
    setStack({});
    expect(() => stackConfig.readStackConfig()).toThrow(
      [
        'Pulumi stack "test" config is invalid (3 problems):',
        '  raibid-ci:host: missing; set it with `pulumi config set raibid-ci:host <IP or DNS name of the machine>`',
        '  raibid-ci:sshUser: missing; set it with `pulumi config set raibid-ci:sshUser <login with passwordless sudo>`',
        '  raibid-ci:sshKeyPath: missing; set it with `pulumi config set raibid-ci:sshKeyPath ~/.ssh/id_ed25519`',
      ].join('\n'),
    );
  });

  it('fails when the key path names the public key', () => {
    const pub = writeKeyFile(join(keyDir, 'pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host\n');
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: pub });
    expect(() => stackConfig.readStackConfig()).toThrow(`  raibid-ci:sshKeyPath: "${pub}" is a public key; point it at the private key (the same path without .pub)`);
  });

  it('fails when the key file holds no private key', () => {
    const junk = writeKeyFile(join(keyDir, 'junk'), 'hello\n');
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: junk });
    expect(() => stackConfig.readStackConfig()).toThrow(`  raibid-ci:sshKeyPath: "${junk}" does not contain a PEM or OpenSSH private key ("-----BEGIN … PRIVATE KEY-----")`);
  });

  it('fails on a host given as a URL, a bad user and a bad port', () => {
    setStack({ host: 'ssh://dgx:22', sshUser: 'Not A User', sshPort: 'ssh', sshKeyPath: keyPath });
    expect(() => stackConfig.readStackConfig()).toThrow(
      [
        'Pulumi stack "test" config is invalid (3 problems):',
        '  raibid-ci:host: expected an IPv4 address or a DNS name without scheme or port, got "ssh://dgx:22"',
        '  raibid-ci:sshUser: expected a Linux user name, got "Not A User"',
        '  raibid-ci:sshPort: expected a port number 1–65535, got "ssh"',
      ].join('\n'),
    );
  });

  it('fails when sshPort is a port k3s ServiceLB forwards to Gitea (SSH would reach Gitea halfway through)', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '2222', sshKeyPath: keyPath });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot })).rejects.toThrow(
      [
        'Pulumi stack "test" config is invalid (1 problem):',
        '  raibid-ci:sshPort: 2222 is the port k3s ServiceLB forwards on the node to Gitea SSH (gitea.dgx.local); SSH to it would stop reaching sshd once that runs, halfway through the bootstrap. Let sshd listen on another port (not 80, 2222, 8080) and set it with `pulumi config set raibid-ci:sshPort <that port>`, or leave it at 22',
      ].join('\n'),
    );
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '80', sshKeyPath: keyPath });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot })).rejects.toThrow('raibid-ci:sshPort: 80 is the port k3s ServiceLB forwards on the node to Gitea HTTP (gitea.dgx.local);');
  });

  it('fails when sshPort is api.lanPort', async () => {
    const yaml = join(keyDir, 'lanport.yaml');
    writeFileSync(yaml, 'api:\n  lanPort: 2022\n');
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '2022', sshKeyPath: keyPath, raibidConfig: yaml });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot })).rejects.toThrow(
      '  raibid-ci:sshPort: 2022 is the port k3s ServiceLB forwards on the node to the API (ci.dgx.local, api.lanPort); SSH to it would stop reaching sshd once that runs, halfway through the bootstrap. Let sshd listen on another port (not 80, 2222, 2022)',
    );
  });

  it('accepts an sshPort no LoadBalancer uses', () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '2022', sshKeyPath: keyPath });
    expect(() => program.loadInputs({ root: dir, snapshot: fakeSnapshot })).not.toThrow();
  });

  it('fails with the config loader’s message for an invalid raibid.yaml', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, raibidConfig: join(keyDir, 'missing.yaml') });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot })).rejects.toThrow(`${join(keyDir, 'missing.yaml')} is invalid (1 problem):\n  ${join(keyDir, 'missing.yaml')}: (top level): file not found`);
  });

  it('fails with `npm run synth` as the fix when the synth output is missing', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath });
    const empty = mkdtempSync(join(tmpdir(), 'raibid-empty-'));
    try {
      await expect(program.bootstrap({ root: empty, snapshot: fakeSnapshot })).rejects.toThrow(
        `dist/bootstrap.k8s.yaml is missing in ${empty}: run \`npm run synth\` first (bootstrap applies the synthesized namespaces, storage classes, Gitea and PostgreSQL from it)`,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('repository snapshot', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'pipe' });

  it('bundles flux.branch when it carries the synthesized clusters/<name>/', () => {
    const repo = mkdtempSync(join(tmpdir(), 'raibid-repo-'));
    try {
      git(repo, 'init', '-q');
      mkdirSync(join(repo, 'clusters/dgx-spark'), { recursive: true });
      writeFileSync(join(repo, 'clusters/dgx-spark/kustomization.yaml'), 'resources: []\n');
      git(repo, 'add', '.');
      git(repo, 'commit', '-qm', 'synth');
      const snap = snapshotRepository(repo, config());
      expect(snap.branch).toBe('main');
      expect(snap.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(existsSync(snap.bundlePath)).toBe(true);
      rmSync(snap.bundlePath);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('fails when the branch has no synthesized tree committed', () => {
    const repo = mkdtempSync(join(tmpdir(), 'raibid-repo-'));
    try {
      git(repo, 'init', '-q');
      writeFileSync(join(repo, 'README.md'), 'x\n');
      git(repo, 'add', '.');
      git(repo, 'commit', '-qm', 'init');
      expect(() => snapshotRepository(repo, config())).toThrow(
        'branch main has no clusters/dgx-spark/kustomization.yaml: run `npm run synth` and commit clusters/, infrastructure/ and apps/ before bootstrapping (Flux reconciles what is committed)',
      );
      expect(() => snapshotRepository(repo, config('flux:\n  branch: release\n'))).toThrow(`branch "release" (flux.branch) is not in the git repository at ${repo}; bootstrap pushes that branch to Gitea for Flux`);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
