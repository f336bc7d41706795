/**
 * The Pulumi stack config of the bootstrap: how to reach the machine. Everything about the cluster itself
 * comes from raibid.yaml; the stack only says where it goes.
 *
 *   pulumi config set raibid-ci:host 192.168.1.50
 *   pulumi config set raibid-ci:sshUser ubuntu
 *   pulumi config set raibid-ci:sshKeyPath ~/.ssh/id_ed25519
 *   pulumi config set raibid-ci:hostKey "$(ssh-keyscan -t ed25519 192.168.1.50 2>/dev/null)"
 *
 * Every problem is reported at once, one line each, naming the key and the fix.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import type { RaibidConfig } from '../config/resolve.js';
import { serviceLbPorts } from './k3s-config.js';

/** Config namespace of the keys below: the project name in Pulumi.yaml. */
export const CONFIG_NAMESPACE = 'raibid-ci';

/** How the program reaches the machine over SSH. */
export interface StackConfig {
  /** Address of the machine (IPv4 or DNS name): SSH target, API-server address in the kubeconfig, TLS SAN. */
  readonly host: string;
  /** SSH user; needs passwordless sudo (checked by the preflight). */
  readonly sshUser: string;
  /** SSH port. @default 22 */
  readonly sshPort: number;
  /** Absolute path of the private key file, `~` expanded. */
  readonly sshKeyPath: string;
  /** The private key itself, as a secret. */
  readonly sshPrivateKey: pulumi.Output<string>;
  /**
   * The machine's SSH host key, `<type> <base64>` (the key part of an `ssh-keyscan` line). Every SSH
   * connection of the bootstrap checks it (@pulumi/command's `connection.hostKey`) and refuses a machine
   * that presents another key, so a man in the middle never receives the tokens or the kubeconfig.
   */
  readonly hostKey: string;
  /** Passphrase of the private key, when it has one. */
  readonly sshKeyPassphrase?: pulumi.Output<string>;
  /** raibid.yaml to read instead of the usual lookup (`--config`, $RAIBID_CONFIG, ./raibid.yaml). */
  readonly raibidConfig?: string;
  /**
   * Any new value makes the next `pulumi up` read the admin kubeconfig from the machine again (its
   * client certificate expires after a year; k3s renews the file when it restarts). @default ''
   */
  readonly kubeconfigRefresh?: string;
  /**
   * GitHub token of the repository mirrors (`pulumi config set --secret raibid-ci:githubToken …`),
   * as a secret; unset, mirrors of public repositories still work at GitHub's anonymous rate limit.
   */
  readonly githubToken?: pulumi.Output<string>;
}

/** Raised for a stack config the bootstrap cannot use; `problems` has one line per key. */
export class StackConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly problems: readonly string[],
  ) {
    super(`Pulumi stack "${stackName}" config is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'StackConfigError';
  }
}

const HOST = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}|[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*)$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** `~/x` → `$HOME/x`; relative paths are taken from the project folder. */
export function expandPath(p: string, cwd = process.cwd()): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(cwd, p);
}

const key = (k: string) => `${CONFIG_NAMESPACE}:${k}`;
const setHint = (k: string, example: string) => `set it with \`pulumi config set ${key(k)} ${example}\``;

/** Host key types @pulumi/command (golang.org/x/crypto/ssh) can pin. */
export const HOST_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

const HOST_KEY_HINT = `set it with \`pulumi config set ${key('hostKey')} "$(ssh-keyscan -t ed25519 <host> 2>/dev/null)"\` and compare its fingerprint (ssh-keygen -lf) with \`sudo ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` run on the machine's console`;

/**
 * Parses a host key: an `ssh-keyscan` line (`<host> <type> <base64>`), a known_hosts line or the bare
 * `<type> <base64>` of /etc/ssh/ssh_host_*_key.pub. Checks that the base64 is an SSH public key blob of
 * that type (its first field is the type name), so a truncated paste fails here, not on every dial.
 * @returns `<type> <base64>`, or a problem line naming the setting
 */
export function parseHostKey(text: string): { hostKey?: string; problem?: string } {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) return { problem: `${key('hostKey')}: expected one host key line, got ${lines.length}; ${HOST_KEY_HINT}` };
  const fields = lines[0].split(/\s+/);
  const at = fields.findIndex((f) => (HOST_KEY_TYPES as readonly string[]).includes(f));
  if (at < 0 || at + 1 >= fields.length) {
    return { problem: `${key('hostKey')}: expected "<type> <base64 key>" with a type of ${HOST_KEY_TYPES.join(', ')}, got ${JSON.stringify(lines[0])}; ${HOST_KEY_HINT}` };
  }
  const [type, data] = [fields[at], fields[at + 1]];
  const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(data) ? Buffer.from(data, 'base64') : Buffer.alloc(0);
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength !== type.length || blob.subarray(4, 4 + nameLength).toString('latin1') !== type) {
    return { problem: `${key('hostKey')}: the ${type} key ${JSON.stringify(data.slice(0, 24) + (data.length > 24 ? '…' : ''))} is not a valid ${type} public key (truncated or mistyped?); ${HOST_KEY_HINT}` };
  }
  return { hostKey: `${type} ${data}` };
}

/** Reads the private key file; a problem line when it is missing or not a private key. */
function readPrivateKey(path: string, shown: string): { key?: string; problem?: string } {
  let text: string;
  try {
    if (!statSync(path).isFile()) return { problem: `${key('sshKeyPath')}: ${JSON.stringify(shown)} is not a file; point it at your private key, e.g. ~/.ssh/id_ed25519` };
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
    return { problem: `${key('sshKeyPath')}: cannot read ${JSON.stringify(shown)} (${why}); ${setHint('sshKeyPath', '~/.ssh/id_ed25519')}` };
  }
  if (/^(ssh-|ecdsa-|sk-)/.test(text.trimStart())) {
    return { problem: `${key('sshKeyPath')}: ${JSON.stringify(shown)} is a public key; point it at the private key (the same path without .pub)` };
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return { problem: `${key('sshKeyPath')}: ${JSON.stringify(shown)} does not contain a PEM or OpenSSH private key ("-----BEGIN … PRIVATE KEY-----")` };
  }
  return { key: text };
}

/**
 * Reads and checks the stack config. Throws StackConfigError listing every problem.
 * @param config the project's config (`new pulumi.Config('raibid-ci')`)
 */
export function readStackConfig(config: pulumi.Config = new pulumi.Config(CONFIG_NAMESPACE), stack = pulumi.getStack()): StackConfig {
  const problems: string[] = [];

  const host = config.get('host');
  if (host === undefined || host.trim() === '') problems.push(`${key('host')}: missing; ${setHint('host', '<IP or DNS name of the machine>')}`);
  else if (!HOST.test(host)) problems.push(`${key('host')}: expected an IPv4 address or a DNS name without scheme or port, got ${JSON.stringify(host)}`);

  const sshUser = config.get('sshUser');
  if (sshUser === undefined || sshUser.trim() === '') problems.push(`${key('sshUser')}: missing; ${setHint('sshUser', '<login with passwordless sudo>')}`);
  else if (!USER.test(sshUser)) problems.push(`${key('sshUser')}: expected a Linux user name, got ${JSON.stringify(sshUser)}`);

  const portText = config.get('sshPort');
  const sshPort = portText === undefined ? 22 : Number(portText);
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535) problems.push(`${key('sshPort')}: expected a port number 1–65535, got ${JSON.stringify(portText)}`);

  const keyPathText = config.get('sshKeyPath');
  let sshKeyPath = '';
  let privateKey: string | undefined;
  if (keyPathText === undefined || keyPathText.trim() === '') {
    problems.push(`${key('sshKeyPath')}: missing; ${setHint('sshKeyPath', '~/.ssh/id_ed25519')}`);
  } else {
    sshKeyPath = expandPath(keyPathText);
    const read = readPrivateKey(sshKeyPath, keyPathText);
    if (read.problem) problems.push(read.problem);
    privateKey = read.key;
  }

  const hostKeyText = config.get('hostKey');
  let hostKey = '';
  if (hostKeyText === undefined || hostKeyText.trim() === '') {
    problems.push(`${key('hostKey')}: missing; the bootstrap checks the machine's SSH host key on every connection; ${HOST_KEY_HINT}`);
  } else {
    const parsed = parseHostKey(hostKeyText);
    if (parsed.problem) problems.push(parsed.problem);
    hostKey = parsed.hostKey ?? '';
  }

  const raibidConfig = config.get('raibidConfig');
  const kubeconfigRefresh = config.get('kubeconfigRefresh');

  if (problems.length > 0) throw new StackConfigError(stack, problems);
  const passphrase = config.getSecret('sshKeyPassphrase');
  const githubToken = config.getSecret('githubToken');
  return {
    host: host!,
    sshUser: sshUser!,
    sshPort,
    sshKeyPath,
    sshPrivateKey: pulumi.secret(privateKey!),
    hostKey,
    ...(passphrase ? { sshKeyPassphrase: passphrase } : {}),
    ...(raibidConfig ? { raibidConfig: expandPath(raibidConfig) } : {}),
    ...(kubeconfigRefresh ? { kubeconfigRefresh } : {}),
    ...(githubToken ? { githubToken } : {}),
  };
}

/**
 * Checks the stack config against raibid.yaml; throws StackConfigError. `sshPort` must not be a port k3s
 * ServiceLB forwards on the node: once Gitea or the API runs, SSH on that port reaches them instead of
 * sshd, and the bootstrap loses the machine halfway.
 */
export function checkStackAgainstConfig(stack: StackConfig, c: RaibidConfig, stackName = pulumi.getStack()): void {
  const ports = serviceLbPorts(c);
  const hit = ports.find((p) => p.port === stack.sshPort);
  if (!hit) return;
  const taken = ports.map((p) => p.port).join(', ');
  throw new StackConfigError(stackName, [
    `${key('sshPort')}: ${stack.sshPort} is the port k3s ServiceLB forwards on the node to ${hit.use}; SSH to it would stop reaching sshd once that runs, halfway through the bootstrap. Let sshd listen on another port (not ${taken}) and ${setHint('sshPort', '<that port>')}, or leave it at 22`,
  ]);
}
