/**
 * Step 6b: Gitea, once its manifests are applied: wait until it serves and the admin can log in, create
 * the organisation and the repository through the API, push this repository into it (once).
 * Also the Gitea access tokens (GiteaTokens): those the catalogue asks for, and containerd's pull token.
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

/**
 * The token containerd pulls images from the Gitea registry with (written into registries.yaml by the
 * RegistryAuth step, never into a Kubernetes Secret, so it is not in the catalogue). Pull only.
 */
export const REGISTRY_PULL_TOKEN = { name: 'raibid-node-registry-pull', scopes: ['read:package'] } as const;

export interface GiteaTokensArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** The organisation and repository. */
  readonly after: After;
}

export class GiteaTokens extends pulumi.ComponentResource {
  /** `<secret>/<key>` → token command (its stdout is the token, secret). */
  readonly commands: ReadonlyMap<string, command.remote.Command>;
  /** containerd's pull token (REGISTRY_PULL_TOKEN); its stdout is the token, secret. */
  readonly registry: command.remote.Command;

  constructor(name: string, args: GiteaTokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:GiteaTokens', name, {}, opts);
    // Created once, revoked on destroy; the token is kept in the state and never logged. A replaced
    // token (rotation, `pulumi up --replace`) is revoked first: the revocation goes by name, so revoking
    // after creating would revoke the new token.
    const token = (id: string, tokenName: string, scopes: readonly string[]) =>
      new command.remote.Command(
        `${name}-${id}`,
        { connection: args.connection, create: tokenScript(args.config, tokenName, scopes), delete: revokeTokenScript(args.config, tokenName), logging: 'stderr' },
        { parent: this, dependsOn: args.after, additionalSecretOutputs: ['stdout'], deleteBeforeReplace: true },
      );
    this.commands = new Map(tokenKeys(args.config).map((t) => [`${t.spec.name}/${t.key}`, token(`${t.spec.name}-${t.key}`, t.name, t.scopes)]));
    this.registry = token('registry-pull', REGISTRY_PULL_TOKEN.name, REGISTRY_PULL_TOKEN.scopes);
    this.registerOutputs({});
  }

  /** A token as a secret. */
  value(secret: string, key: string): pulumi.Output<string> {
    const cmd = this.commands.get(`${secret}/${key}`);
    if (!cmd) throw new Error(`internal: ${secret}/${key} is not a gitea-token key of src/secrets/catalog.ts`);
    return pulumi.secret(cmd.stdout);
  }

  /** containerd's pull token as a secret. */
  registryToken(): pulumi.Output<string> {
    return pulumi.secret(this.registry.stdout);
  }
}
