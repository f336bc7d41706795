/**
 * Step 6b: Gitea, once its manifests are applied: wait until it serves and the admin can log in, create
 * the organisation and the repository through the API, push this repository into it (once).
 * Also the Gitea access tokens the catalogue asks for (GiteaTokens).
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { RaibidConfig } from '../config/resolve.js';
import { SECRETS, secretNamespace, type SecretSpec } from '../secrets/catalog.js';
import type { Connection } from './connection.js';
import type { After } from './deps.js';
import type { RepoSnapshot } from './repo-snapshot.js';
import { pushScript, readyScript, repositoryScript, revokeTokenScript, tokenScript } from './gitea-scripts.js';

/** Where the bundle of this repository is copied on the machine. */
export const REMOTE_BUNDLE_PATH = '/tmp/raibid-ci-bootstrap.bundle';

export interface GiteaArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  readonly repo: RepoSnapshot;
  /** The applied platform manifests. */
  readonly after: After;
}

export class Gitea extends pulumi.ComponentResource {
  readonly ready: command.remote.Command;
  readonly repository: command.remote.Command;
  readonly bundle: command.remote.CopyToRemote;
  readonly push: command.remote.Command;

  constructor(name: string, args: GiteaArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Gitea', name, {}, opts);
    const { connection, config } = args;
    this.ready = new command.remote.Command(`${name}-ready`, { connection, create: readyScript(config) }, { parent: this, dependsOn: args.after, customTimeouts: { create: '15m' } });
    this.repository = new command.remote.Command(`${name}-repository`, { connection, create: repositoryScript(config) }, { parent: this, dependsOn: [this.ready] });
    this.bundle = new command.remote.CopyToRemote(
      `${name}-bundle`,
      {
        connection,
        source: new pulumi.asset.FileAsset(args.repo.bundlePath),
        remotePath: REMOTE_BUNDLE_PATH,
        // A different target repository needs a fresh copy; new commits do not (see ignoreChanges).
        triggers: [config.flux.organization, config.flux.repository, config.flux.branch],
      },
      // Copied for the first push only; later commits reach Gitea by git push.
      { parent: this, dependsOn: [this.repository], ignoreChanges: ['source'] },
    );
    this.push = new command.remote.Command(`${name}-push`, { connection, create: pushScript(config, REMOTE_BUNDLE_PATH) }, { parent: this, dependsOn: [this.bundle, this.repository] });
    this.registerOutputs({});
  }
}

/** One Gitea token of the catalogue. */
export interface TokenKey {
  readonly spec: SecretSpec;
  readonly key: string;
  readonly scopes: readonly string[];
  /** Token name in Gitea, unique per catalogue key. */
  readonly name: string;
}

/** Every `gitea-token` key of the catalogue. */
export function tokenKeys(c: RaibidConfig): TokenKey[] {
  return SECRETS.flatMap((spec) =>
    Object.entries(spec.keys).flatMap(([key, value]) =>
      value.from === 'gitea-token' ? [{ spec, key, scopes: value.scopes, name: `raibid-${secretNamespace(c, spec)}-${spec.name}-${key}` }] : [],
    ),
  );
}

export interface GiteaTokensArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** The organisation and repository. */
  readonly after: After;
}

export class GiteaTokens extends pulumi.ComponentResource {
  /** `<secret>/<key>` → token command (its stdout is the token, secret). */
  readonly commands: ReadonlyMap<string, command.remote.Command>;

  constructor(name: string, args: GiteaTokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:GiteaTokens', name, {}, opts);
    const commands = new Map<string, command.remote.Command>();
    for (const t of tokenKeys(args.config)) {
      commands.set(
        `${t.spec.name}/${t.key}`,
        new command.remote.Command(
          `${name}-${t.spec.name}-${t.key}`,
          // Created once; the token is kept in the state and never logged.
          { connection: args.connection, create: tokenScript(args.config, t.name, t.scopes), delete: revokeTokenScript(args.config, t.name), logging: 'stderr' },
          { parent: this, dependsOn: args.after, additionalSecretOutputs: ['stdout'] },
        ),
      );
    }
    this.commands = commands;
    this.registerOutputs({});
  }

  /** A token as a secret. */
  value(secret: string, key: string): pulumi.Output<string> {
    const cmd = this.commands.get(`${secret}/${key}`);
    if (!cmd) throw new Error(`internal: ${secret}/${key} is not a gitea-token key of src/secrets/catalog.ts`);
    return pulumi.secret(cmd.stdout);
  }
}
