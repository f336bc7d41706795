/**
 * Step 6c: containerd's login to the Gitea registry.
 *
 * Gitea requires sign-in for everything (REQUIRE_SIGNIN_VIEW), its container registry included, so
 * k3s/containerd cannot pull the agent and API images (`<registryHost>/<org>/<image>:<tag>`) anonymously.
 * Once Gitea has issued the `read:package` pull token (GiteaTokens.registry), this step rewrites
 * /etc/rancher/k3s/registries.yaml with the same mirrors plus
 * `configs: { <registryHost>: { auth: { username: <admin>, password: <token> } } }`.
 *
 * The K3s step writes the file without `auth` before k3s first starts (Gitea does not run yet) and never
 * overwrites it afterwards; from here on this step owns it. It runs before Flux, so the first
 * reconciliation of the apps can pull their images, and after every other step that talks to the API
 * server (or to Gitea through it), so the restart interrupts none of them.
 *
 * The file is written by `writeFileScript`: root-owned, 0600, replaced and k3s restarted only when its
 * content differs from what is on the machine. The content, token included, arrives on stdin as a secret;
 * the script prints only the path and whether k3s restarted, and stdout is not logged either.
 * @see https://docs.k3s.io/installation/private-registry
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { RaibidConfig } from '../config/resolve.js';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import type { After } from './deps.js';
import type { K3s } from './k3s.js';
import { K3S_REGISTRIES_PATH, registriesYaml } from './k3s-config.js';
import { writeFileScript } from './shell.js';

export interface RegistryAuthArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** The Gitea access token (scope `read:package`) of `config.gitea.admin.username`; a secret. */
  readonly token: pulumi.Output<string>;
  /**
   * The K3s step. The file is written again whenever the K3s step wrote its first registries.yaml anew
   * (`pulumi up --replace` of it removes the file first) or k3s was reinstalled (only after `pulumi state
   * unprotect` of the install; k3s-uninstall.sh deletes /etc/rancher/k3s), even though nothing else changed.
   */
  readonly k3s: K3s;
  /**
   * The pull token's command, and every step that talks to the API server or to Gitea before Flux
   * (tokens, token Secrets, the bot, the branch protection): writing the file restarts k3s.
   */
  readonly after: After;
}

export class RegistryAuth extends pulumi.ComponentResource {
  /** The registries.yaml with credentials. */
  readonly file: command.remote.Command;

  constructor(name: string, args: RegistryAuthArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:RegistryAuth', name, {}, opts);
    const { connection, config } = args;
    const username = config.gitea.admin.username;
    this.file = remoteCommand(
      `${name}-file`,
      {
        connection,
        create: writeFileScript(K3S_REGISTRIES_PATH, '0600', true),
        // A new token or new mirrors change stdin, which re-runs `create` in place.
        stdin: pulumi.secret(args.token.apply((password) => registriesYaml(config, { username, password }))),
        // What stdin cannot show: the machine lost the file to a reinstall. A trigger change replaces
        // the resource, which only runs `create` again (there is no `delete`).
        triggers: [args.k3s.install.id, args.k3s.registriesFile.id],
        // On destroy the K3s step removes the file and the token is revoked: nothing to undo here.
        logging: 'stderr',
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ['stdin'], customTimeouts: { create: '10m', update: '10m' } },
    );
    this.registerOutputs({});
  }
}
