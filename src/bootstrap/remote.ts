/**
 * The one way the bootstrap creates a remote command: `create`, `update` and `delete` run as
 * `sh -c <script>` whatever the SSH user's login shell is (see shell.ts), and the previous output is
 * never handed back to the script in the environment (`addPreviousOutputInEnv`), since for some
 * commands it is a secret (the kubeconfig, a token) and no script reads it.
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import { inSh } from './shell.js';

/** The script fields a remote command runs through the login shell. */
export const SCRIPT_FIELDS = ['create', 'update', 'delete'] as const;

function wrap(script: pulumi.Input<string> | undefined): pulumi.Input<string> | undefined {
  if (script === undefined) return undefined;
  return typeof script === 'string' ? inSh(script) : pulumi.output(script).apply(inSh);
}

/** A `command.remote.Command` whose scripts run under sh (see the file comment). */
export function remoteCommand(name: string, args: command.remote.CommandArgs, opts?: pulumi.CustomResourceOptions): command.remote.Command {
  const wrapped: command.remote.CommandArgs = { addPreviousOutputInEnv: false, ...args };
  const scripts: Record<string, pulumi.Input<string>> = {};
  for (const field of SCRIPT_FIELDS) {
    const script = wrap(args[field]);
    if (script !== undefined) scripts[field] = script;
  }
  return new command.remote.Command(name, { ...wrapped, ...scripts }, opts);
}
