/**
 * The SSH connection every remote command of the bootstrap uses, and the workstation-side check of the
 * machine's host key.
 *
 * @pulumi/command 1.2.1 pins a host key per connection (`connection.hostKey`, parsed like an
 * authorized_keys line and checked with golang.org/x/crypto/ssh FixedHostKey): a machine presenting any
 * other key is refused before authentication, so neither the tokens nor the kubeconfig reach it. Without
 * the field the provider accepts any key, which is why `raibid-ci:hostKey` is required.
 */
import { execFileSync } from 'node:child_process';
import type * as command from '@pulumi/command';
import { CONFIG_NAMESPACE, type StackConfig, StackConfigError } from './stack-config.js';

export type Connection = command.types.input.remote.ConnectionArgs;

/** Connection from the stack config; the private key (and its passphrase) stay secret outputs. */
export function sshConnection(stack: StackConfig): Connection {
  return {
    host: stack.host,
    port: stack.sshPort,
    user: stack.sshUser,
    hostKey: stack.hostKey,
    privateKey: stack.sshPrivateKey,
    ...(stack.sshKeyPassphrase ? { privateKeyPassword: stack.sshKeyPassphrase } : {}),
    // A machine that is rebooting (k3s install, kernel update) gets a minute to come back.
    dialErrorLimit: 12,
    perDialTimeout: 10,
  };
}

/**
 * Asks the machine for its host keys of one type (`<type> <base64>` each); undefined when it cannot be
 * asked (no ssh-keyscan, no answer). An unauthenticated answer: it can only reveal a mismatch early.
 */
export type ScanHostKey = (host: string, port: number, type: string) => string[] | undefined;

/** ssh-keyscan on the workstation, 5 s timeout. */
export const sshKeyscan: ScanHostKey = (host, port, type) => {
  try {
    const out = execFileSync('ssh-keyscan', ['-T', '5', '-p', String(port), '-t', type, host], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 });
    const keys = out.split('\n').flatMap((l) => {
      const f = l.trim().split(/\s+/);
      return !l.startsWith('#') && f.length >= 3 ? [`${f[1]} ${f[2]}`] : [];
    });
    return keys.length > 0 ? keys : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Fails before anything runs when the machine answers with a host key other than `raibid-ci:hostKey`,
 * naming the setting (the provider would refuse every connection anyway, with a bare "host key
 * mismatch" after a minute of retries). A machine that does not answer is left to the connection.
 */
export function checkHostKey(stack: StackConfig, stackName: string, scan: ScanHostKey = sshKeyscan): void {
  const [type] = stack.hostKey.split(' ');
  const seen = scan(stack.host, stack.sshPort, type);
  if (!seen || seen.includes(stack.hostKey)) return;
  const shown = (k: string) => (k.length > 40 ? `${k.slice(0, 40)}…` : k);
  throw new StackConfigError(stackName, [
    `${CONFIG_NAMESPACE}:hostKey: ${stack.host}:${stack.sshPort} presents ${shown(seen[0])}, not the configured ${shown(stack.hostKey)}. ` +
      `If the machine was reinstalled, check the new key on its console (sudo ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-.*$/g, '')}_key.pub) and set it again; otherwise something between you and the machine answers in its place: do not continue`,
  ]);
}
