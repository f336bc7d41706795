/**
 * Step 4: the admin kubeconfig, read back over SSH as a secret, pointed at the machine instead of
 * 127.0.0.1, and the Kubernetes provider every later resource uses.
 *
 * The read runs again when k3s is upgraded (K3S_VERSION) or reinstalled (the install's id), and when
 * the stack config `raibid-ci:kubeconfigRefresh` changes: the client certificate in the file is valid
 * for a year, k3s renews it when it restarts close to expiry, and the copy in Pulumi's state is renewed
 * only by reading the file again (@pulumi/command has no read-on-every-run). A program that read it on
 * every run would need a non-deterministic input. The provider carries `clusterIdentifier`, so a new
 * kubeconfig (or a new host) updates the provider instead of replacing it, which would replace every
 * Kubernetes object of the bootstrap.
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import * as k8s from '@pulumi/kubernetes';
import { parse, stringify } from 'yaml';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import { K3S_KUBECONFIG_PATH } from './k3s-config.js';
import { sh } from './shell.js';
import { K3S_VERSION } from './versions.js';

export interface KubeconfigArgs {
  readonly connection: Connection;
  /** Stack host; becomes the API-server address. */
  readonly host: string;
  readonly apiServerPort: number;
  /** `cluster.name`: the provider's `clusterIdentifier`. */
  readonly clusterName: string;
  /** The k3s install; a new one (reinstall) is read again. */
  readonly install: command.remote.Command;
  /** `raibid-ci:kubeconfigRefresh`: a new value reads the file again. @default '' */
  readonly refresh?: string;
}

/** Replaces every cluster's `server` with `https://<host>:<port>`; throws when the text is no kubeconfig. */
export function pointKubeconfigAt(text: string, host: string, port: number): string {
  let doc: { clusters?: { cluster?: { server?: string } }[] } | undefined;
  try {
    doc = parse(text) as typeof doc;
  } catch {
    doc = undefined;
  }
  if (!doc || !Array.isArray(doc.clusters) || doc.clusters.length === 0) {
    throw new Error(`${K3S_KUBECONFIG_PATH} on ${host} is not a kubeconfig; check that k3s is running (sudo systemctl status k3s)`);
  }
  for (const c of doc.clusters) if (c.cluster) c.cluster.server = `https://${host}:${port}`;
  return stringify(doc, { lineWidth: 0 });
}

export class Kubeconfig extends pulumi.ComponentResource {
  /** The remote read of the kubeconfig. */
  readonly read: command.remote.Command;
  /** Admin kubeconfig for the machine; secret. */
  readonly kubeconfig: pulumi.Output<string>;
  /** Provider for every Kubernetes resource of the bootstrap. */
  readonly provider: k8s.Provider;

  constructor(name: string, args: KubeconfigArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Kubeconfig', name, {}, opts);
    this.read = remoteCommand(
      `${name}-read`,
      {
        connection: args.connection,
        create: `sudo cat ${sh(K3S_KUBECONFIG_PATH)}`,
        // Read again after an upgrade, a reinstall or on request; the content never reaches the logs.
        triggers: [K3S_VERSION, args.install.id, args.refresh ?? ''],
        logging: 'stderr',
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [args.install], additionalSecretOutputs: ['stdout'] },
    );
    this.kubeconfig = pulumi.secret(this.read.stdout.apply((text) => pointKubeconfigAt(text, args.host, args.apiServerPort)));
    this.provider = new k8s.Provider(
      `${name}-provider`,
      {
        kubeconfig: this.kubeconfig,
        // The provider (and so every object) is replaced only when this changes, never for a new
        // kubeconfig or server address: a replacement would re-create every object (AlreadyExists).
        clusterIdentifier: args.clusterName,
        // Server-side apply with force: Flux co-owns the bootstrap objects after it adopts them, and a
        // re-run must be able to re-apply them without field-manager conflicts.
        enableServerSideApply: true,
        enablePatchForce: true,
        // On `pulumi destroy`, objects of an already uninstalled cluster are dropped from the state.
        deleteUnreachable: true,
      },
      { parent: this, dependsOn: [this.read] },
    );
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }
}
