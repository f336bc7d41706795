/** The SSH connection every remote command of the bootstrap uses. */
import type * as command from '@pulumi/command';
import type { StackConfig } from './stack-config.js';

export type Connection = command.types.input.remote.ConnectionArgs;

/** Connection from the stack config; the private key (and its passphrase) stay secret outputs. */
export function sshConnection(stack: StackConfig): Connection {
  return {
    host: stack.host,
    port: stack.sshPort,
    user: stack.sshUser,
    privateKey: stack.sshPrivateKey,
    ...(stack.sshKeyPassphrase ? { privateKeyPassword: stack.sshKeyPassphrase } : {}),
    // A machine that is rebooting (k3s install, kernel update) gets a minute to come back.
    dialErrorLimit: 12,
    perDialTimeout: 10,
  };
}
