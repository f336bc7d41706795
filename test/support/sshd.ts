/**
 * A real SSH server for tests: OpenSSH's sshd on loopback inside a private network and mount namespace that the
 * test creates (`unshare -n -m`), a throwaway user per login shell with passwordless sudo, a temporary host key
 * that the client checks (StrictHostKeyChecking=yes against a known_hosts holding only that key), and a temporary
 * client key.
 *
 * The sandbox keeps the machine the tests run on untouched: inside the namespace, /etc and /usr/local/bin are
 * overlays whose writes land in folders of the sandbox (`etcDir`, `usrLocalBinDir`, and /var/lib in `varLibDir`), /tmp is a private tmpfs,
 * and /proc/meminfo can be replaced. Outside, the only traces are the users and their sudoers drop-in, both
 * removed by close(); the namespace ends with its last process. sshd runs under a shell that stops it when the
 * test process's pipe closes, so even a killed test run leaves no sshd behind.
 *
 * Commands run the way @pulumi/command runs a remote command: one SSH session without a terminal, the command
 * string executed by the user's login shell (`$SHELL -c <command>`), `stdin` written to the session and closed.
 * @see https://www.pulumi.com/registry/packages/command/api-docs/remote/command/
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The login shells a session can be opened with (the scripts claim to run under each, see src/bootstrap/shell.ts). */
export const LOGIN_SHELLS = { sh: '/bin/sh', bash: '/bin/bash', zsh: '/usr/bin/zsh' } as const;
export type LoginShell = keyof typeof LOGIN_SHELLS;

const SSHD = '/usr/sbin/sshd';

/** Why the real-transport tests cannot run here, or null when they can. */
export function sshdSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (useradd, unshare -n -m, sshd)';
  for (const tool of ['unshare', 'nsenter', 'ip', 'ssh', 'ssh-keygen', 'useradd', 'sudo']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (!existsSync(SSHD)) return `${SSHD} is not installed (apt-get install openssh-server)`;
  if (spawnSync('unshare', ['-n', '-m', 'true']).status !== 0) return 'unshare -n -m is not permitted here';
  return null;
}

export interface SshdOptions {
  /** Addresses put on the namespace's loopback (besides 127.0.0.1), e.g. a LAN address and a Service ClusterIP. */
  readonly addresses?: readonly string[];
  /** Source address of the default route, so `ip route get` finds a LAN address. */
  readonly defaultRouteSource?: string;
  /** Files put into /etc inside the namespace (relative path → content), e.g. os-release. */
  readonly etc?: Readonly<Record<string, string>>;
  /**
   * Existing files replaced inside the namespace (bind mounts), e.g. /proc/meminfo or /proc/sys/fs/inotify/*:
   * what the machine reports about itself.
   */
  readonly binds?: Readonly<Record<string, string>>;
  /** Folders replaced by an empty tmpfs holding these files, e.g. /sys/fs/cgroup with cgroup.controllers. */
  readonly dirs?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Folder placed first on the sessions' PATH and on sudo's secure_path (the fake machine's commands). */
  readonly stubs: string;
}

export interface SshResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the session's stdin, then closed (as @pulumi/command does with `stdin`). */
  readonly stdin?: string;
  /** The user's login shell. @default 'sh' */
  readonly shell?: LoginShell;
  /** Called with the ssh client once it runs (a test may kill it to drop the connection). */
  readonly onSpawn?: (client: ChildProcess) => void;
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** A connection of its own (new key exchange and host-key check) instead of the user's shared one. */
  readonly fresh?: boolean;
}

export interface Sshd {
  /** Root of the sandbox (outside /tmp, which is private inside the namespace). */
  readonly root: string;
  /** Where writes to /etc inside the namespace land (overlay upper folder). */
  readonly etcDir: string;
  /** Where writes to /usr/local/bin inside the namespace land. */
  readonly usrLocalBinDir: string;
  /** Where writes to /var/lib inside the namespace land (the bootstrap's own state, /var/lib/raibid). */
  readonly varLibDir: string;
  /** The user of each login shell. */
  readonly users: Readonly<Record<LoginShell, string>>;
  /** sshd's host key, `<type> <base64>` (the key part of an `ssh-keyscan` line). */
  readonly hostKey: string;
  /** The one key the client accepts for the machine (known_hosts); by default `hostKey`. */
  trustHostKey(key: string): void;
  /** Runs `command` over a new SSH session. */
  run(command: string, opts?: RunOptions): Promise<SshResult>;
  /** Copies a local file to the machine over SFTP (as @pulumi/command's CopyToRemote does). */
  copy(localPath: string, remotePath: string, shell?: LoginShell): Promise<SshResult>;
  /** Starts a process inside the namespace's network (e.g. a port forward), stopped by close(). */
  spawnInNamespace(command: string, args: readonly string[]): ChildProcess;
  /** Stops sshd and everything started in the namespace, removes the users, their sudoers drop-in and the sandbox. */
  close(): Promise<void>;
}

function must(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Starts sshd in a fresh namespace; see the file comment. */
export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const root = mkdtempSync('/var/tmp/raibid-sshd-');
  chmodSync(root, 0o755);
  const dir = (name: string) => {
    const d = join(root, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const keys = dir('keys');
  const etcDir = dir('etc');
  const usrLocalBinDir = dir('usr-local-bin');
  const varLibDir = dir('var-lib');
  const work = [dir('etc-work'), dir('ulb-work'), dir('var-lib-work')];
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'raibid-test-host', '-f', join(keys, 'host')]);
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'raibid-test-client', '-f', join(keys, 'client')]);
  writeFileSync(join(keys, 'authorized_keys'), readFileSync(join(keys, 'client.pub')));
  const hostPub = readFileSync(join(keys, 'host.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(join(keys, 'known_hosts'), `127.0.0.1 ${hostPub}\n`);
  for (const [path, content] of Object.entries(opts.etc ?? {})) {
    mkdirSync(join(etcDir, path, '..'), { recursive: true });
    writeFileSync(join(etcDir, path), content);
  }
  const binds = Object.entries(opts.binds ?? {}).map(([target, content], i) => {
    writeFileSync(join(root, `bind-${i}`), content);
    return `mount --bind ${join(root, `bind-${i}`)} ${target}`;
  });
  const dirs = Object.entries(opts.dirs ?? {}).flatMap(([target, files]) => [
    `mount -t tmpfs tmpfs ${target}`,
    ...Object.entries(files).map(([name, content]) => `printf '%s' '${content.replace(/'/g, `'"'"'`)}' > ${join(target, name)}`),
  ]);

  // One user per login shell; a locked password would make sshd refuse the key, so '*' (no password login).
  const tag = randomBytes(3).toString('hex');
  const users = Object.fromEntries(Object.keys(LOGIN_SHELLS).map((s) => [s, `raibid-${tag}-${s}`])) as Record<LoginShell, string>;
  const sudoers = `/etc/sudoers.d/raibid-test-${tag}`;
  const created: string[] = [];
  const cleanupUsers = () => {
    rmSync(sudoers, { force: true });
    for (const u of created) spawnSync('userdel', ['-r', u], { encoding: 'utf8' });
  };
  try {
    for (const [shell, user] of Object.entries(users)) {
      must('useradd', ['-m', '-p', '*', '-s', LOGIN_SHELLS[shell as LoginShell], user]);
      created.push(user);
    }
    const path = `${opts.stubs}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
    writeFileSync(sudoers, Object.values(users).flatMap((u) => [`${u} ALL=(ALL) NOPASSWD:ALL`, `Defaults:${u} secure_path="${path}"`]).join('\n') + '\n', { mode: 0o440 });
    must('visudo', ['-cf', sudoers]);
  } catch (err) {
    cleanupUsers();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const config = join(keys, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1:22',
      `HostKey ${join(keys, 'host')}`,
      `AuthorizedKeysFile ${join(keys, 'authorized_keys')}`,
      `AllowUsers ${Object.values(users).join(' ')}`,
      // The key files live in the sandbox, not below the users' homes.
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PidFile none',
      // The fake machine's commands come first, as a real machine's /usr/local/bin does.
      `SetEnv PATH=${opts.stubs}:/usr/local/bin:/usr/bin:/bin`,
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const setup = [
    'set -e',
    'ip link set lo up',
    ...(opts.addresses ?? []).map((a) => `ip addr add ${a}/32 dev lo`),
    ...(opts.defaultRouteSource ? [`ip route add default dev lo src ${opts.defaultRouteSource}`] : []),
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${etcDir},workdir=${work[0]} /etc`,
    `mount -t overlay overlay -o lowerdir=/usr/local/bin,upperdir=${usrLocalBinDir},workdir=${work[1]} /usr/local/bin`,
    `mount -t overlay overlay -o lowerdir=/var/lib,upperdir=${varLibDir},workdir=${work[2]} /var/lib`,
    'mount -t tmpfs -o mode=1777 tmpfs /tmp',
    ...binds,
    ...dirs,
    'mkdir -p /run/sshd',
    // sshd stops when the test process's pipe closes (the test ended, or died).
    `${SSHD} -D -e -f ${config} & pid=$!`,
    'cat > /dev/null; kill $pid; wait $pid || true',
  ].join('\n');
  const holder = spawn('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c', setup], { stdio: ['pipe', 'ignore', 'pipe'] });
  const extra = new Set<ChildProcess>();
  let log = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start within 10 s:\n${log}`)), 10_000);
      holder.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('Server listening')) (clearTimeout(timer), resolve());
      });
      holder.on('exit', (code) => (clearTimeout(timer), reject(new Error(`the namespace holder exited (${code}):\n${log}`))));
    });
  } catch (err) {
    holder.kill('SIGKILL');
    cleanupUsers();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const ns = ['-t', String(holder.pid), '-n'];
  const sshArgs = (shell: LoginShell, fresh = false) => [
    ...ns, 'ssh', '-T', '-i', join(keys, 'client'),
    '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${join(keys, 'known_hosts')}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-F', '/dev/null',
    // One connection per user, a new session per command (what @pulumi/command does per resource, without
    // paying the key exchange each time).
    ...(fresh ? ['-o', 'ControlPath=none'] : ['-o', 'ControlMaster=auto', '-o', `ControlPath=${join(keys, `mux-${shell}`)}`, '-o', 'ControlPersist=120']),
    `${users[shell]}@127.0.0.1`,
  ];
  const exec = (args: string[], stdin: string, o: RunOptions): Promise<SshResult> =>
    new Promise((resolve, reject) => {
      const client = spawn('nsenter', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      client.stdout.on('data', (b: Buffer) => out.push(b));
      client.stderr.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => client.kill('SIGKILL'), o.timeoutMs ?? 30_000);
      client.on('error', (e) => (clearTimeout(timer), reject(e)));
      client.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      client.stdin.on('error', () => undefined);
      client.stdin.end(stdin);
      o.onSpawn?.(client);
    });

  return {
    root,
    etcDir,
    usrLocalBinDir,
    varLibDir,
    users,
    hostKey: hostPub,
    trustHostKey: (key) => writeFileSync(join(keys, 'known_hosts'), `127.0.0.1 ${key}\n`),
    run: (command, o = {}) => exec([...sshArgs(o.shell ?? 'sh', o.fresh), command], o.stdin ?? '', o),
    copy: (localPath, remotePath, shell = 'sh') => {
      const args = sshArgs(shell);
      const dest = args.pop()!;
      // scp speaks SFTP (OpenSSH ≥ 9), as CopyToRemote does.
      return exec([...ns, 'scp', '-q', ...args.slice(ns.length + 2), localPath, `${dest}:${remotePath}`], '', {});
    },
    spawnInNamespace(command, args) {
      const child = spawn('nsenter', [...ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      extra.add(child);
      return child;
    },
    async close() {
      for (const child of extra) child.kill('SIGKILL');
      holder.stdin!.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (holder.kill('SIGKILL'), resolve()), 5_000);
        holder.on('exit', () => (clearTimeout(timer), resolve()));
        if (holder.exitCode !== null) (clearTimeout(timer), resolve());
      });
      // Sessions still running in the namespace (a dropped connection's script) end with the users.
      for (const u of Object.values(users)) spawnSync('pkill', ['-KILL', '-u', u]);
      cleanupUsers();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
