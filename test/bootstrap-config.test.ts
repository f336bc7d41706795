import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeSnapshot as fakeRepo, installMocks, MOCK_HOST_KEY, MOCK_PRIVATE_KEY, writeKeyFile } from './bootstrap-harness.js';
import { config, removeTemp, synthToTemp } from './helpers.js';
import { commitTree, differingFiles, folderTree, pinRef, snapshotRepository } from '../src/bootstrap/repo-snapshot.js';
import { readBootstrapBundle, readFluxSync } from '../src/bootstrap/manifests.js';

type Program = typeof import('../src/bootstrap/program.js');

const HINT = 'set it with `pulumi config set raibid-ci:hostKey "$(ssh-keyscan -t ed25519 <host> 2>/dev/null)"` and compare its fingerprint (ssh-keygen -lf) with `sudo ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the machine\'s console';
type StackConfigModule = typeof import('../src/bootstrap/stack-config.js');

let program: Program;
let stackConfig: StackConfigModule;
let dir: string;
let keyDir: string;
let keyPath: string;

/** Sets the stack config; `hostKey` defaults to MOCK_HOST_KEY unless given (null: unset). */
function setStack(values: Record<string, string | null>, secret: string[] = []): void {
  const all = { hostKey: MOCK_HOST_KEY, ...values };
  const set = Object.entries(all).filter((e): e is [string, string] => e[1] !== null);
  pulumi.runtime.setAllConfig(Object.fromEntries(set.map(([k, v]) => [`raibid-ci:${k}`, v])), secret.map((k) => `raibid-ci:${k}`));
}

/** The machine does not answer ssh-keyscan (tests never reach a network). */
const noScan = () => undefined;
const fakeSnapshot = fakeRepo;

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
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow(
      [
        'Pulumi stack "test" config is invalid (2 problems):',
        '  raibid-ci:host: missing; set it with `pulumi config set raibid-ci:host <IP or DNS name of the machine>`',
        '  raibid-ci:sshKeyPath: cannot read "/nonexistent/id_ed25519" (no such file); set it with `pulumi config set raibid-ci:sshKeyPath ~/.ssh/id_ed25519`',
      ].join('\n'),
    );
  });

  it('fails when nothing is configured', () => {
    setStack({ hostKey: null });
    expect(() => stackConfig.readStackConfig()).toThrow(
      [
        'Pulumi stack "test" config is invalid (4 problems):',
        '  raibid-ci:host: missing; set it with `pulumi config set raibid-ci:host <IP or DNS name of the machine>`',
        '  raibid-ci:sshUser: missing; set it with `pulumi config set raibid-ci:sshUser <login with passwordless sudo>`',
        '  raibid-ci:sshKeyPath: missing; set it with `pulumi config set raibid-ci:sshKeyPath ~/.ssh/id_ed25519`',
        `  raibid-ci:hostKey: missing; the bootstrap checks the machine's SSH host key on every connection; ${HINT}`,
      ].join('\n'),
    );
  });

  it('reads the host key from an ssh-keyscan line, a known_hosts line or a .pub file', () => {
    for (const text of [`192.168.1.50 ${MOCK_HOST_KEY}\n`, `# 192.168.1.50:22 SSH-2.0-OpenSSH_9.6\n192.168.1.50 ${MOCK_HOST_KEY}`, `${MOCK_HOST_KEY} root@dgx`, MOCK_HOST_KEY]) {
      setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, hostKey: text });
      expect(stackConfig.readStackConfig().hostKey, text).toBe(MOCK_HOST_KEY);
    }
  });

  it('fails on a host key that is not one, truncated, or more than one line', () => {
    const bad = (hostKey: string) => {
      setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, hostKey });
      try {
        stackConfig.readStackConfig();
      } catch (err) {
        return (err as Error).message.split('\n')[1];
      }
      throw new Error(`accepted ${hostKey}`);
    };
    expect(bad('SHA256:abcdef')).toBe(`  raibid-ci:hostKey: expected "<type> <base64 key>" with a type of ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, got "SHA256:abcdef"; ${HINT}`);
    expect(bad(MOCK_HOST_KEY.slice(0, 30))).toBe(`  raibid-ci:hostKey: the ssh-ed25519 key "AAAAC3NzaC1lZDI1NT" is not a valid ssh-ed25519 public key (truncated or mistyped?); ${HINT}`);
    // A key of another type under this type's name.
    expect(bad(MOCK_HOST_KEY.replace('ssh-ed25519', 'ssh-rsa'))).toContain('is not a valid ssh-rsa public key');
    expect(bad(`h ${MOCK_HOST_KEY}\nh ${MOCK_HOST_KEY}`)).toBe(`  raibid-ci:hostKey: expected one host key line, got 2; ${HINT}`);
  });

  it('fails before anything runs when the machine presents another host key, naming the setting', () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath });
    const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey0';
    const asked: unknown[] = [];
    expect(() => program.loadInputs({ root: dir, snapshot: fakeSnapshot, scanHostKey: (...a) => (asked.push(a), [other]), tree: folderTree })).toThrow(
      'raibid-ci:hostKey: 192.168.1.50:22 presents ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOth…, not the configured ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHev…. If the machine was reinstalled, check the new key on its console (sudo ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and set it again; otherwise something between you and the machine answers in its place: do not continue',
    );
    expect(asked).toEqual([['192.168.1.50', 22, 'ssh-ed25519']]);
    expect(() => program.loadInputs({ root: dir, snapshot: fakeSnapshot, scanHostKey: () => [MOCK_HOST_KEY], tree: folderTree })).not.toThrow();
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
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow(
      [
        'Pulumi stack "test" config is invalid (1 problem):',
        '  raibid-ci:sshPort: 2222 is the port k3s ServiceLB forwards on the node to Gitea SSH (gitea.dgx.local); SSH to it would stop reaching sshd once that runs, halfway through the bootstrap. Let sshd listen on another port (not 80, 2222, 8080) and set it with `pulumi config set raibid-ci:sshPort <that port>`, or leave it at 22',
      ].join('\n'),
    );
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '80', sshKeyPath: keyPath });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow('raibid-ci:sshPort: 80 is the port k3s ServiceLB forwards on the node to Gitea HTTP (gitea.dgx.local);');
  });

  it('fails when sshPort is api.lanPort', async () => {
    const yaml = join(keyDir, 'lanport.yaml');
    writeFileSync(yaml, 'api:\n  lanPort: 2022\n');
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '2022', sshKeyPath: keyPath, raibidConfig: yaml });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow(
      '  raibid-ci:sshPort: 2022 is the port k3s ServiceLB forwards on the node to the API (ci.dgx.local, api.lanPort); SSH to it would stop reaching sshd once that runs, halfway through the bootstrap. Let sshd listen on another port (not 80, 2222, 2022)',
    );
  });

  it('accepts an sshPort no LoadBalancer uses', () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshPort: '2022', sshKeyPath: keyPath });
    expect(() => program.loadInputs({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).not.toThrow();
  });

  it('fails with the config loader’s message for an invalid raibid.yaml', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath, raibidConfig: join(keyDir, 'missing.yaml') });
    await expect(program.bootstrap({ root: dir, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow(`${join(keyDir, 'missing.yaml')} is invalid (1 problem):\n  ${join(keyDir, 'missing.yaml')}: (top level): file not found`);
  });

  it('fails with `npm run synth` as the fix when the synth output is missing', async () => {
    setStack({ host: '192.168.1.50', sshUser: 'ubuntu', sshKeyPath: keyPath });
    const empty = mkdtempSync(join(tmpdir(), 'raibid-empty-'));
    try {
      await expect(program.bootstrap({ root: empty, snapshot: fakeSnapshot, scanHostKey: noScan, tree: folderTree })).rejects.toThrow(
        `dist/bootstrap.k8s.yaml is missing in ${empty}: run \`npm run synth\` first (bootstrap applies the synthesized namespaces, storage classes, Gitea and PostgreSQL from it)`,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('repository snapshot', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'pipe' });

  /** A repository with flux.branch carrying a synthesized clusters/dgx-spark/ and dist/. */
  function synthRepo(): string {
    const repo = mkdtempSync(join(tmpdir(), 'raibid-repo-'));
    git(repo, 'init', '-q');
    mkdirSync(join(repo, 'clusters/dgx-spark'), { recursive: true });
    mkdirSync(join(repo, 'dist'), { recursive: true });
    for (const f of ['clusters/dgx-spark/kustomization.yaml', 'clusters/dgx-spark/gitrepository-flux-system.yaml', 'clusters/dgx-spark/kustomization-flux-system.yaml', 'dist/bootstrap.k8s.yaml']) {
      writeFileSync(join(repo, f), readFileSync(join(dir, f)));
    }
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'synth');
    return repo;
  }

  it('bundles flux.branch into the git directory (not /tmp) when it carries the synthesized clusters/<name>/', () => {
    const repo = synthRepo();
    try {
      const snap = snapshotRepository(repo, config(), 'dgx');
      expect(snap.branch).toBe('main');
      expect(snap.commit).toBe(git(repo, 'rev-parse', 'HEAD').toString().trim());
      expect(snap.bundlePath).toBe(join(repo, '.git', 'raibid-ci', `bootstrap-${snap.commit}.bundle`));
      expect(git(repo, 'bundle', 'list-heads', snap.bundlePath).toString()).toBe(`${snap.commit} refs/heads/main\n`);
      // A preview pins nothing.
      expect(() => git(repo, 'rev-parse', '--verify', '--quiet', pinRef('dgx'))).toThrow();
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('pins the commit on `pulumi up`, and a second run needs neither the branch nor its new commits', () => {
    const repo = synthRepo();
    try {
      const first = snapshotRepository(repo, config(), 'dgx', { pin: true });
      expect(git(repo, 'rev-parse', pinRef('dgx')).toString().trim()).toBe(first.commit);
      // The branch moves on, then disappears locally.
      writeFileSync(join(repo, 'later.txt'), 'x\n');
      git(repo, 'add', '.');
      git(repo, 'commit', '-qm', 'later');
      expect(snapshotRepository(repo, config(), 'dgx', { pin: true }).commit).toBe(first.commit);
      git(repo, 'checkout', '-q', '--detach');
      git(repo, 'branch', '-D', 'main');
      rmSync(first.bundlePath);
      const again = snapshotRepository(repo, config(), 'dgx', { pin: true });
      expect(again.commit).toBe(first.commit);
      expect(git(repo, 'bundle', 'list-heads', again.bundlePath).toString()).toBe(`${first.commit} ${pinRef('dgx')}\n`);
      // Another stack has no pin: it needs the branch.
      expect(() => snapshotRepository(repo, config(), 'other')).toThrow('branch "main" (flux.branch) is not in the git repository');
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('applies the manifests of the commit it pushes, not the working tree, and names the files that differ', () => {
    const repo = synthRepo();
    try {
      const snap = snapshotRepository(repo, config(), 'dgx');
      const committed = readBootstrapBundle(commitTree(repo, snap.commit));
      writeFileSync(join(repo, 'dist/bootstrap.k8s.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: only-in-the-working-tree\n');
      expect(readBootstrapBundle(commitTree(repo, snap.commit))).toEqual(committed);
      expect(readBootstrapBundle(folderTree(repo)).map((o) => o.metadata.name)).toEqual(['only-in-the-working-tree']);
      expect(readFluxSync(commitTree(repo, snap.commit), config()).map((o) => o.kind)).toEqual(['GitRepository', 'Kustomization']);
      expect(differingFiles(repo, snap.commit, ['dist/bootstrap.k8s.yaml', 'clusters/dgx-spark/'])).toEqual(['dist/bootstrap.k8s.yaml']);
      git(repo, 'rm', '-qf', 'dist/bootstrap.k8s.yaml');
      git(repo, 'commit', '-qm', 'drop');
      const head = git(repo, 'rev-parse', 'HEAD').toString().trim();
      expect(() => readBootstrapBundle(commitTree(repo, head))).toThrow(`dist/bootstrap.k8s.yaml is missing in commit ${head.slice(0, 12)}: run \`npm run synth\` and commit the result (bootstrap applies the synthesized namespaces, storage classes, Gitea and PostgreSQL from it)`);
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
