/**
 * Every remote command of the bootstrap, exactly as the Pulumi program generates it (read from the program
 * run under mocks: its `create`, `delete` and `stdin`), run over a real SSH session against sshd in a private
 * network namespace (test/support/sshd.ts), under each login shell the scripts claim to support. The machine is
 * FAKE (test/support/fake-machine.ts: k3s, systemctl, sysctl, the k3s download) and Gitea is the API STAND-IN
 * (test/support/gitea-standin.ts), reached at the gitea-http ClusterIP the scripts read, as in production.
 *
 * What is shown: each create and delete script succeeds under sh, bash and zsh with its stdin; a second run
 * (under sh) writes no file, restarts nothing and leaves Gitea as it was; destroy's delete scripts undo what
 * create did on the machine and revoke the tokens; a failed k3s download, Gitea failing a request and a dropped
 * connection are repaired by running the script again, as is a k3s restart that failed after its config changed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dependencyClosure, installMocks, MOCK_PRIVATE_KEY, type Registered, sampleBundle, settle, unwrapSecrets } from './bootstrap-harness.js';
import { config, removeTemp, synthToTemp } from './helpers.js';
import { createFakeMachine, type FakeMachine } from './support/fake-machine.js';
import { startGiteaStandIn, type GiteaStandIn } from './support/gitea-standin.js';
import { LOGIN_SHELLS, type LoginShell, type RunOptions, type Sshd, sshdSkipReason, startSshd } from './support/sshd.js';
import { GITEA_HTTP_PORT } from '../src/endpoints.js';
import { BOT_TEAM, BOT_TEAM_UNITS, botTeamBody } from '../src/bootstrap/gitea-bot-scripts.js';
import { REGISTRY_PULL_TOKEN, tokenKeys } from '../src/bootstrap/gitea.js';
import { K3S_CONFIG_PATH, K3S_REGISTRIES_PATH, k3sConfigYaml } from '../src/bootstrap/k3s-config.js';
import { pointKubeconfigAt } from '../src/bootstrap/kubeconfig.js';
import { readFluxSync } from '../src/bootstrap/manifests.js';
import { K3S_INSTALL_SCRIPT_URL, K3S_VERSION } from '../src/bootstrap/versions.js';

const skip = sshdSkipReason();
const c = config();
const HOST = '192.168.1.50';
const GITEA_IP = '10.43.0.50';
/** The gitea-admin Secret (its password: the one the program hands the admin-password step, set in beforeAll). */
const ADMIN = { username: c.gitea.admin.username, password: 'MOCKADMINPASSWORDfromTheSecret' };
/** What the fake DGX Spark reports: enough MemTotal for the default node.memory, no swap. */
const MEMINFO = 'MemTotal:       134217728 kB\nMemFree:        120000000 kB\nSwapTotal:             0 kB\n';
/** One shell's runs take 15–40 s (about 0.3–1.5 s per SSH session, more on a loaded machine). */
const SHELL_TEST_TIMEOUT_MS = 150_000;
const OS_RELEASE = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n';

/** A remote command of the program, as registered. */
interface Remote {
  readonly name: string;
  readonly type: 'command' | 'copy';
  readonly create?: string;
  readonly delete?: string;
  readonly stdin?: string;
  readonly remotePath?: string;
  readonly source?: string;
  readonly hostKey?: string;
}

let sshd: Sshd;
let machine: FakeMachine;
let machineRoot: string;
let gitea: GiteaStandIn;
let forward: { close(): void } | undefined;
let remotes: Remote[];
let synthDir: string;
let repoDir: string;
let bundlePath: string;
let commit: string;
/** Tokens printed by the token commands of the current run, by command name. */
const printed = new Map<string, string>();

/** The program's remote commands in dependency order (a command after everything it depends on). */
async function remoteCommands(resources: readonly Registered[]): Promise<Remote[]> {
  const closure = dependencyClosure(resources);
  const commands = resources.filter((r) => r.type === 'command:remote:Command' || r.type === 'command:remote:CopyToRemote');
  const ordered = [...commands].sort((a, b) => closure.get(a.urn)!.size - closure.get(b.urn)!.size);
  // A stable topological order: fewer transitive dependencies first can still misorder siblings, so check it.
  ordered.forEach((r, i) => ordered.slice(i + 1).forEach((later) => expect(closure.get(r.urn)!.has(later.urn), `${r.name} depends on ${later.name}`).toBe(false)));
  return Promise.all(ordered.map(async (r) => {
    const inputs = unwrapSecrets(r.inputs) as Record<string, any>;
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return {
      name: r.name,
      type: r.type === 'command:remote:Command' ? 'command' : 'copy',
      create: text(inputs.create),
      delete: text(inputs.delete),
      stdin: text(inputs.stdin),
      remotePath: text(inputs.remotePath),
      // A FileAsset's path is a promise.
      source: text(await (r.inputs.source as { path?: Promise<string> } | undefined)?.path),
      hostKey: text(inputs.connection?.hostKey),
    } as Remote;
  }));
}

/** A bare-bones git repository with the branch Flux follows, bundled as repo-snapshot.ts does. */
function makeRepository(): void {
  repoDir = mkdtempSync('/var/tmp/raibid-repo-');
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-C', repoDir, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x', GIT_CONFIG_NOSYSTEM: '1', HOME: repoDir } });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '--quiet', `--initial-branch=${c.flux.branch}`);
  spawnSync('sh', ['-c', `mkdir -p clusters/${c.cluster.name} && echo 'resources: []' > clusters/${c.cluster.name}/kustomization.yaml`], { cwd: repoDir });
  git('add', '.');
  git('commit', '--quiet', '-m', 'synth');
  commit = git('rev-parse', 'HEAD');
  bundlePath = join(repoDir, 'snapshot.bundle');
  git('bundle', 'create', bundlePath, `refs/heads/${c.flux.branch}`);
}

/**
 * Gitea as the stand-in, with the admin its configure init container creates at the first start (a random
 * password nobody knows: the admin-password step sets the Secret's through the API), behind the ClusterIP.
 */
async function freshGitea(): Promise<void> {
  forward?.close();
  await gitea?.close();
  const socketPath = join(sshd.root, `gitea-${Math.random().toString(36).slice(2)}.sock`);
  gitea = await startGiteaStandIn({ tokens: [], users: { [ADMIN.username]: { password: `random-${Math.random().toString(36).slice(2)}`, admin: true } }, requireSignInView: true, socketPath, cliRoute: true });
  // The Service ClusterIP inside the namespace forwards to the stand-in's socket (a node routes Service IPs).
  const relay = `require('net').createServer((c) => { const u = require('net').connect(${JSON.stringify(socketPath)}); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(${GITEA_HTTP_PORT}, ${JSON.stringify(GITEA_IP)}, () => console.log('ready'))`;
  const child = sshd.spawnInNamespace(process.execPath, ['-e', relay]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the ClusterIP relay exited (${code})`)));
  });
  forward = { close: () => child.kill('SIGKILL') };
}

/** Runs one remote command's script (create or delete) the way @pulumi/command does. */
async function run(r: Remote, which: 'create' | 'delete', shell: LoginShell, o: Omit<RunOptions, 'stdin' | 'shell'> = {}) {
  if (r.type === 'copy') {
    expect(r.source).toBe(bundlePath);
    return which === 'create' ? sshd.copy(bundlePath, r.remotePath!, shell) : { code: 0, signal: null, stdout: '', stderr: '' };
  }
  const script = r[which];
  if (!script) return { code: 0, signal: null, stdout: '', stderr: '' };
  let stdin = r.stdin;
  // RegistryAuth gets the pull token the token command printed (the mock's stand-in value replaced).
  if (stdin && r.name.endsWith('registry-auth-file')) stdin = stdin.replace(/MOCKTOKEN[\w-]+/, printed.get(`raibid-tokens-registry-pull`) ?? 'no-token-yet');
  const result = await sshd.run(script, { ...o, stdin, shell });
  if (which === 'create' && r.name.startsWith('raibid-tokens-') && result.code === 0) printed.set(r.name, result.stdout);
  return result;
}

const isToken = (r: Remote) => r.name.startsWith('raibid-tokens-');

/**
 * Every create in dependency order; fails on the first error with the script's stderr. Token commands are
 * one-shot and issue a new token by design (one-shot.ts): `tokens: false` keeps the ones of the first run.
 */
async function createAll(shell: LoginShell, o: { tokens?: boolean; failing?: ReadonlyMap<string, RegExp> } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of remotes.filter((x) => o.tokens !== false || !isToken(x))) {
    let res = await run(r, 'create', shell);
    const failure = o.failing?.get(r.name);
    if (failure) {
      // An injected failure: the step fails and says why; running it again (the next `pulumi up`) repairs it.
      expect({ command: r.name, failed: res.code !== 0, stderr: failure.test(res.stderr) }).toEqual({ command: r.name, failed: true, stderr: true });
      if (r.name === 'raibid-k3s-install') expect(existsSync(join(sshd.usrLocalBinDir, 'k3s'))).toBe(false);
      res = await run(r, 'create', shell);
    }
    expect({ command: r.name, code: res.code, stderr: res.stderr }).toEqual({ command: r.name, code: 0, stderr: '' });
    out.set(r.name, res.stdout);
  }
  return out;
}

/** Content hash and mtime of every file the machine's scripts wrote (the overlays' upper folders). */
function machineFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (base: string, mount: string, dir = base) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(base, mount, p);
      else if (e.isFile()) files.set(`${mount}/${relative(base, p)}`, `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mtimeMs} ${(statSync(p).mode & 0o777).toString(8)}`);
    }
  };
  walk(sshd.etcDir, '/etc');
  walk(sshd.usrLocalBinDir, '/usr/local/bin');
  walk(sshd.varLibDir, '/var/lib');
  return files;
}
const machineFile = (path: string) => readFileSync(join(sshd.etcDir, relative('/etc', path)), 'utf8');

/** What Gitea holds that the scripts manage (tokens by owner and name; their secrets change by design). */
function giteaState() {
  return {
    users: gitea.users().map((u) => ({ ...u })).sort((a, b) => a.login.localeCompare(b.login)),
    org: gitea.orgVisibility(c.flux.organization),
    teams: gitea.teams().map(({ id: _id, ...t }) => t),
    protections: gitea.protections(),
    tokens: gitea.tokens().map((t) => `${t.owner}/${t.name} ${t.scopes.join(',')}`).sort(),
  };
}

/** Content (no mtimes) of the machine's files: what two runs that converge agree on. */
const contents = () => new Map([...machineFiles()].map(([k, v]) => [k, v.split(' ')[0]]));
/** Whether k3s runs with what is on disk: the hash the fake k3s loaded at its last start. */
const k3sRunsDiskConfig = () => {
  const disk = ['rancher/k3s/config.yaml', 'rancher/k3s/registries.yaml'].map((f) => (existsSync(join(sshd.etcDir, f)) ? readFileSync(join(sshd.etcDir, f)) : Buffer.alloc(0)));
  return machine.read('k3s-loaded')?.split(' ')[0] === createHash('sha256').update(Buffer.concat(disk)).digest('hex');
};
const byName = (suffix: string) => remotes.find((r) => r.name === `raibid-${suffix}`)!;
/** End state of the clean run under sh, for the failure tests to converge to. */
let cleanEnd: { files: Map<string, string>; gitea: ReturnType<typeof giteaState> } | undefined;

const writes = (calls: readonly string[]) => calls.filter((l) => /^(systemctl restart|k3s-install|k3s-uninstall)|rollout restart|-- psql /.test(l));

describe.skipIf(skip)(`bootstrap scripts over a real SSH session (sshd in a network namespace, FAKE k3s/systemd, Gitea API STAND-IN)${skip ? ` [skipped: ${skip}]` : ''}`, () => {
  beforeAll(async () => {
    machineRoot = mkdtempSync('/var/tmp/raibid-machine-');
    machine = createFakeMachine(machineRoot, { giteaIp: GITEA_IP, admin: ADMIN });
    sshd = await startSshd({
      stubs: machine.bin,
      addresses: [HOST, GITEA_IP],
      defaultRouteSource: HOST,
      etc: { 'os-release': OS_RELEASE },
      binds: { '/proc/meminfo': MEMINFO, '/proc/sys/fs/inotify/max_user_instances': '8192\n', '/proc/sys/fs/inotify/max_user_watches': '1048576\n' },
      dirs: { '/sys/fs/cgroup': { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n' } },
    });
    makeRepository();
    synthDir = synthToTemp();
    const resources = await installMocks();
    const program = await import('../src/bootstrap/program.js');
    program.runBootstrap({
      stack: { host: HOST, sshUser: sshd.users.sh, sshPort: 22, sshKeyPath: '/unused', sshPrivateKey: pulumi.secret(MOCK_PRIVATE_KEY), hostKey: sshd.hostKey },
      config: c,
      bundle: sampleBundle(c),
      fluxSync: readFluxSync(synthDir, c),
      repo: { branch: c.flux.branch, commit, bundlePath },
    });
    await settle();
    remotes = await remoteCommands(resources);
    // The client trusts exactly the key the program pins in every connection.
    for (const r of remotes) expect(r.hostKey, r.name).toBe(sshd.hostKey);
    sshd.trustHostKey(remotes[0]!.hostKey!);
    // The database was initialised with the gitea-postgres Secret's password (what the program hands the step).
    machine.write('pg-password', byName('gitea-database-password').stdin!);
    // The gitea-admin Secret holds the password the program hands the admin-password step.
    ADMIN.password = byName('gitea-admin-password').stdin!;
    machine.write('gitea-admin-password', ADMIN.password);
  }, 60_000);

  afterAll(async () => {
    forward?.close();
    await gitea?.close();
    await sshd?.close();
    for (const d of [machineRoot, repoDir]) if (d) rmSync(d, { recursive: true, force: true });
    if (synthDir) removeTemp(synthDir);
  });

  it('covers every remote command of the program (each needs its scenario here)', () => {
    const names = remotes.map((r) => r.name.replace(/^raibid-/, ''));
    const tokens = [...tokenKeys(c).map((t) => `tokens-${t.spec.name}-${t.key}`), 'tokens-registry-pull'];
    expect(new Set(names)).toEqual(
      new Set([
        'preflight-check', 'k3s-config', 'k3s-registries', 'k3s-hosts', ...(c.buildkit.enabled ? ['k3s-userns'] : []), 'k3s-install', 'kubeconfig-read',
        'gitea-ready', 'gitea-database-password', 'gitea-admin-password', 'gitea-repository', 'gitea-bundle', 'gitea-push', 'gitea-protection', 'bot-user', 'bot-team', ...tokens, 'token-revocation-all', 'registry-auth-file',
      ]),
    );
  });

  it('refuses a machine whose host key is not the one the program pins', async () => {
    const other = mkdtempSync('/var/tmp/raibid-key-');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(other, 'k')]);
    sshd.trustHostKey(readFileSync(join(other, 'k.pub'), 'utf8').split(' ').slice(0, 2).join(' '));
    const r = await sshd.run('echo reached', { fresh: true });
    sshd.trustHostKey(remotes[0]!.hostKey!);
    rmSync(other, { recursive: true, force: true });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Host key verification failed');
  });

  for (const shell of Object.keys(LOGIN_SHELLS) as LoginShell[]) {
    // Under zsh, the first run also meets failures: the k3s download and Gitea refusing the team creation.
    const inject = shell === 'zsh';
    // The login shell only parses the `sh -c '<script>'` word (src/bootstrap/remote.ts): one run of every
    // create and delete proves it; the second run is shown once, under sh.
    const again = shell === 'sh';
    it(`creates everything under a ${shell} login shell${inject ? ' (re-running the steps that fail: the k3s download, Gitea answering 500 to the team)' : ''}${again ? ', a second run changes nothing,' : ''} and destroy undoes the machine's part`, async () => {
      await freshGitea();
      machine.clearCalls();
      printed.clear();
      const failing = new Map<string, RegExp>();
      if (inject) {
        machine.failNext('curl', `${K3S_INSTALL_SCRIPT_URL} -o`);
        gitea.faults.add({ method: 'POST', path: `/api/v1/orgs/${c.flux.organization}/teams`, status: 500 });
        failing.set('raibid-k3s-install', /curl: injected failure/).set('raibid-bot-team', /500/);
      }
      const first = await createAll(shell, { failing });

      // The machine: k3s installed once at the pinned version, every file written, k3s restarted per change.
      const calls = machine.calls();
      expect(calls.filter((l) => l.startsWith('k3s-install INSTALL'))).toEqual([`k3s-install INSTALL_K3S_VERSION=${K3S_VERSION} INSTALL_K3S_EXEC=server`]);
      expect(machineFile(K3S_CONFIG_PATH)).toBe(k3sConfigYaml(c, { host: HOST }));
      expect(machineFile(K3S_REGISTRIES_PATH)).toContain(`password: ${printed.get('raibid-tokens-registry-pull')}`);
      expect(statSync(join(sshd.etcDir, 'rancher/k3s/registries.yaml')).mode & 0o777).toBe(0o600);
      expect(machineFile('/etc/hosts')).toContain(`${HOST} ${c.registryHost}`);
      expect(pointKubeconfigAt(first.get('raibid-kubeconfig-read')!, HOST, 6443)).toContain(`server: https://${HOST}:6443`);
      expect(first.get('raibid-preflight-check')).toContain('arch=aarch64\ncores=20\n');
      // The registry login restarted k3s (it was running): the token never shows in any output.
      expect(first.get('raibid-registry-auth-file')).toBe(`wrote ${K3S_REGISTRIES_PATH}\nrestarted k3s\n`);
      for (const [name, out] of first) if (!name.startsWith('raibid-tokens-')) expect(out, name).not.toContain(printed.get('raibid-tokens-registry-pull'));

      // Gitea: the admin's password is the Secret's (set through the API, the temporary token gone), and it
      // was in no command line of the machine; the organisation, the bot in its team, the protection, one
      // token per catalogue key with its scopes.
      const state = giteaState();
      expect(state.users.find((u) => u.login === ADMIN.username)).toMatchObject({ admin: true, mustChangePassword: false, password: ADMIN.password });
      expect(first.get('raibid-gitea-admin-password')).toMatch(new RegExp(`^Gitea admin ${ADMIN.username}: password set from Secret ${c.namespaces.infrastructure}/gitea-admin through the API\ndeleted the temporary access token raibid-password-sync-[0-9a-f]{12}\n$`));
      expect(calls.filter((l) => l.includes('generate-access-token'))).toHaveLength(1);
      expect(calls.filter((l) => l.includes(ADMIN.password))).toEqual([]);
      expect(state.org).toBe('public');
      expect(state.users.find((u) => u.login === c.gitea.bot.username)).toMatchObject({ admin: false, mustChangePassword: false, allowCreateOrganization: true });
      expect(state.teams).toEqual([expect.objectContaining({ org: c.flux.organization, name: BOT_TEAM, includesAllRepositories: true, unitsMap: BOT_TEAM_UNITS, visibility: botTeamBody().visibility, members: [c.gitea.bot.username] })]);
      expect(state.protections).toEqual([expect.objectContaining({ ruleName: c.flux.branch, rule: expect.objectContaining({ enable_push_whitelist: true, push_whitelist_usernames: [ADMIN.username] }) })]);
      expect(state.tokens).toEqual(
        [...tokenKeys(c).map((t) => `${t.user === 'bot' ? c.gitea.bot.username : ADMIN.username}/${t.name} ${t.scopes.join(',')}`), `${ADMIN.username}/${REGISTRY_PULL_TOKEN.name} ${REGISTRY_PULL_TOKEN.scopes.join(',')}`].sort(),
      );
      // The exact commit of the bundle is on the branch, and the bundle is gone from the machine.
      const head = spawnSync('git', ['-C', gitea.repoDir(c.flux.organization, c.flux.repository), 'rev-parse', `refs/heads/${c.flux.branch}`], { encoding: 'utf8' });
      expect(head.stdout.trim()).toBe(commit);
      expect((await sshd.run(`test -e ${remotes.find((r) => r.type === 'copy')!.remotePath} && echo left || echo gone`)).stdout).toBe('gone\n');

      expect(k3sRunsDiskConfig()).toBe(true);
      if (inject) {
        // The same end state as the run without failures (the registry token differs: a new one each bootstrap).
        const token = (m: Map<string, string>) => new Map([...m].filter(([k]) => k !== '/etc/rancher/k3s/registries.yaml'));
        expect(token(contents())).toEqual(token(cleanEnd!.files));
        expect(giteaState()).toEqual(cleanEnd!.gitea);
      }
      if (again) {
        // Second run: not one file rewritten, nothing restarted or installed, Gitea unchanged.
        const files = machineFiles();
        const gState = giteaState();
        cleanEnd = { files: contents(), gitea: gState };
        machine.clearCalls();
        await new Promise((r) => setTimeout(r, 20)); // an mtime of a rewrite would differ
        const second = await createAll(shell, { tokens: false });
        expect(machineFiles()).toEqual(files);
        expect(writes(machine.calls())).toEqual([]);
        expect(giteaState()).toEqual(gState);
        expect(second.get('raibid-registry-auth-file')).toBe(`${K3S_REGISTRIES_PATH} unchanged\n`);
        expect(second.get('raibid-gitea-admin-password')).toBe(`Gitea admin ${ADMIN.username}: password unchanged\n`);
        expect(machine.calls().filter((l) => l.includes('generate-access-token'))).toEqual([]);
        expect(second.get('raibid-gitea-push')).toContain('already has');
      }

      // destroy: deletes in reverse order; the machine's files and k3s go, the tokens are revoked.
      for (const r of [...remotes].reverse()) {
        const res = await run(r, 'delete', shell);
        expect({ command: r.name, code: res.code, stderr: res.stderr }).toEqual({ command: r.name, code: 0, stderr: '' });
      }
      expect(existsSync(join(sshd.usrLocalBinDir, 'k3s'))).toBe(false);
      expect(existsSync(join(sshd.etcDir, 'rancher/k3s/config.yaml'))).toBe(false);
      expect(existsSync(join(sshd.etcDir, 'rancher/k3s/registries.yaml'))).toBe(false);
      expect(machineFile('/etc/hosts')).not.toContain(c.registryHost);
      expect(gitea.tokens()).toEqual([]);
    }, SHELL_TEST_TIMEOUT_MS);
  }
  it('converges after the connection drops while k3s restarts for a new registry login', async () => {
    // A machine with k3s running (the shell tests end with destroy).
    for (const name of ['k3s-config', 'k3s-registries', 'k3s-install']) expect((await run(byName(name), 'create', 'sh')).code).toBe(0);
    const auth = byName('registry-auth-file');
    printed.set('raibid-tokens-registry-pull', 'rotatedTokenAfterDrop0123456789');
    const blocked = machine.block('systemctl', 'restart');
    let client: import('node:child_process').ChildProcess | undefined;
    const pending = run(auth, 'create', 'sh', { fresh: true, onSpawn: (ch) => (client = ch) });
    await blocked;
    client!.kill('SIGKILL'); // the workstation loses the machine mid-script
    expect((await pending).signal).toBe('SIGKILL');
    machine.release('systemctl');
    await new Promise((r) => setTimeout(r, 300)); // the orphaned script finishes or dies
    const again = await run(auth, 'create', 'sh');
    expect(again.code).toBe(0);
    expect(machineFile(K3S_REGISTRIES_PATH)).toContain('password: rotatedTokenAfterDrop0123456789');
    expect(k3sRunsDiskConfig()).toBe(true);
  });

  // The file is installed before k3s restarts; the script marks the restart as owed first (K3S_RESTART_PENDING),
  // so a re-run that finds the file already up to date still restarts k3s.
  it('a failed k3s restart after a config change: the re-run restarts k3s, which then runs the new config; a third run does nothing', async () => {
    const cfg = byName('k3s-config');
    const changed = { ...cfg, stdin: `${cfg.stdin}# a changed setting\n` };
    try {
      machine.failNext('systemctl', 'restart');
      const failed = await run(changed, 'create', 'sh');
      expect([failed.code, failed.stderr]).toEqual([1, 'systemctl: injected failure\n']);
      expect(machineFile(K3S_CONFIG_PATH)).toContain('# a changed setting');
      expect(k3sRunsDiskConfig()).toBe(false);
      const again = await run(changed, 'create', 'sh');
      expect([again.code, again.stdout]).toEqual([0, `${K3S_CONFIG_PATH} unchanged, but an earlier run did not finish restarting k3s\nrestarted k3s\n`]);
      expect(k3sRunsDiskConfig()).toBe(true);
      const third = await run(changed, 'create', 'sh');
      expect([third.code, third.stdout]).toEqual([0, `${K3S_CONFIG_PATH} unchanged\n`]);
    } finally {
      await run(cfg, 'create', 'sh');
    }
  });
});
