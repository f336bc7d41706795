/**
 * Step 1: preflight over SSH. Checks architecture, cores, memory, disk, OS, tools, passwordless sudo and
 * the ports k3s ServiceLB needs against raibid.yaml before anything is installed; fails with one line
 * per shortfall.
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { RaibidConfig } from '../config/resolve.js';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import { parseFacts, preflightScript } from './preflight-script.js';

export interface PreflightArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** Stack host, named in the failure message. */
  readonly host: string;
}

export class Preflight extends pulumi.ComponentResource {
  /** The remote check; later steps depend on it. */
  readonly check: command.remote.Command;
  /** What the machine reported (arch, cores, memory_kib, disk_path, disk_kib, os). */
  readonly facts: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: PreflightArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Preflight', name, {}, opts);
    // The script travels on stdin, so no quoting layer sits between it and the remote shell. It runs
    // again whenever it changes, i.e. whenever what raibid.yaml declares about the node changes.
    this.check = remoteCommand(
      `${name}-check`,
      { connection: args.connection, create: 'sh -s', stdin: preflightScript(args.config, args.host) },
      { parent: this },
    );
    this.facts = this.check.stdout.apply(parseFacts);
    this.registerOutputs({ facts: this.facts });
  }
}
