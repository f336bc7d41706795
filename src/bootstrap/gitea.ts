/**
 * Step 6b: Gitea, once its manifests are applied: wait until it serves, put the PostgreSQL and admin
 * passwords of their Secrets into effect (the admin's through the API: rotation-scripts.ts), create
 * the organisation and the repository through the API, push this repository into it (once, as the
 * admin) and protect its branch so that only the admin may push.
 * Also the Gitea access tokens (GiteaTokens): those the catalogue asks for, each created as the user it
 * names (admin or bot), and containerd's pull token.
 *
 * Everything but the readiness check is one-shot (see one-shot.ts): it runs again only when what it is
 * about changes, or on `pulumi up --replace`.
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { RaibidConfig } from '../config/resolve.js';
import { SECRETS, secretNamespace, type SecretSpec } from '../secrets/catalog.js';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import { sh } from './shell.js';
import type { After } from './deps.js';
import type { RepoSnapshot } from './repo-snapshot.js';
import { branchProtectionScript, type GiteaLogin, loginName, pushScript, readyScript, repositoryScript, revokeTokenScript, tokenScript } from './gitea-scripts.js';
import { oneShot } from './one-shot.js';
import { adminPasswordScript, postgresPasswordScript } from './rotation-scripts.js';

/**
 * Where the bundle of this repository is copied on the machine: relative, so below the SSH user's home
 * (sftp starts there), which survives a reboot between the copy and the push; /tmp would not.
 */
export const REMOTE_BUNDLE_PATH = 'raibid-ci-bootstrap.bundle';

export interface GiteaArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  readonly repo: RepoSnapshot;
  /** The passwords of the gitea-admin and gitea-postgres Secrets (secrets): a new one is put into effect. */
  readonly passwords: { readonly admin: pulumi.Output<string>; readonly database: pulumi.Output<string> };
  /** The applied platform manifests. */
  readonly after: After;
}

export class Gitea extends pulumi.ComponentResource {
  readonly ready: command.remote.Command;
  /** Puts a rotated gitea-postgres password into effect: ALTER ROLE, then a Gitea restart (rotation-scripts.ts). */
  readonly databasePassword: command.remote.Command;
  /** Sets the gitea-admin password through Gitea's API when it does not log in (first run, rotation); no restart. */
  readonly adminPassword: command.remote.Command;
  readonly repository: command.remote.Command;
  readonly bundle: command.remote.CopyToRemote;
  readonly push: command.remote.Command;
  /** The branch protection of `flux.branch`: only the admin pushes. */
  readonly protection: command.remote.Command;

  constructor(name: string, args: GiteaArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Gitea', name, {}, opts);
    const { connection, config } = args;
    const { organization, repository, branch } = config.flux;
    // What the repository steps are about: another target is another repository.
    const target = [organization, repository, branch];
    this.ready = remoteCommand(`${name}-ready`, { connection, create: readyScript(config) }, { parent: this, dependsOn: args.after, customTimeouts: { create: '15m' } });
    // Run again whenever the password (stdin) changes; each converges, so a first run changes nothing.
    this.databasePassword = remoteCommand(
      `${name}-database-password`,
      { connection, create: postgresPasswordScript(config), stdin: args.passwords.database },
      { parent: this, dependsOn: [this.ready], additionalSecretOutputs: ['stdin'], customTimeouts: { create: '15m', update: '15m' } },
    );
    this.adminPassword = remoteCommand(
      `${name}-admin-password`,
      { connection, create: adminPasswordScript(config), stdin: args.passwords.admin },
      { parent: this, dependsOn: [this.databasePassword], additionalSecretOutputs: ['stdin'], customTimeouts: { create: '15m', update: '15m' } },
    );
    this.repository = remoteCommand(
      `${name}-repository`,
      { connection, create: repositoryScript(config), triggers: target },
      { parent: this, dependsOn: [this.ready, this.adminPassword], ...oneShot() },
    );
    this.bundle = new command.remote.CopyToRemote(
      `${name}-bundle`,
      {
        connection,
        source: new pulumi.asset.FileAsset(args.repo.bundlePath),
        remotePath: REMOTE_BUNDLE_PATH,
        // A different target repository or bootstrap commit needs a fresh copy; a rebuilt bundle file
        // of the same commit does not (see ignoreChanges).
        triggers: [...target, args.repo.commit],
      },
      // Copied for the first push only; later commits reach Gitea by git push.
      { parent: this, dependsOn: [this.repository], ignoreChanges: ['source', 'connection'] },
    );
    this.push = remoteCommand(
      `${name}-push`,
      { connection, create: pushScript(config, REMOTE_BUNDLE_PATH, args.repo.commit), triggers: target },
      { parent: this, dependsOn: [this.bundle, this.repository], ...oneShot() },
    );
    // After the push, which goes as the admin anyway (the one user the rule lets push).
    this.protection = remoteCommand(
      `${name}-protection`,
      { connection, create: branchProtectionScript(config), triggers: [...target, config.gitea.admin.username] },
      { parent: this, dependsOn: [this.push], ...oneShot() },
    );
    this.registerOutputs({});
  }
}

export interface TokenRevocationArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** The root Kustomization: deleting it lets Flux prune Gitea, so revocation must come first. */
  readonly after: After;
}

/**
 * Revokes every token on `pulumi destroy` before anything else goes. Pulumi deletes in reverse order of
 * dependencies, and this command depends on the Flux sync objects, so its `delete` runs before the root
 * Kustomization is deleted (whose deletion makes Flux prune Gitea with everything else). Its `create`
 * does nothing. The token commands' own revocation stays, for a replacement, and is a no-op on destroy.
 */
export class TokenRevocation extends pulumi.ComponentResource {
  readonly command: command.remote.Command;

  constructor(name: string, args: TokenRevocationArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:TokenRevocation', name, {}, opts);
    const { connection, config } = args;
    this.command = remoteCommand(
      `${name}-all`,
      { connection, create: revokeAllCreateScript(), delete: revokeAllTokensScript(config) },
      { parent: this, dependsOn: args.after },
    );
    this.registerOutputs({});
  }
}

/** The `create` of TokenRevocation: nothing to do. */
export function revokeAllCreateScript(): string {
  return `echo ${sh('Gitea tokens: revoked here first on pulumi destroy, while Gitea runs')}\n`;
}

/** Revokes every token bootstrap creates (the catalogue's and containerd's), as the admin; never fails. */
export function revokeAllTokensScript(c: RaibidConfig): string {
  return [...tokenKeys(c).map((t) => revokeTokenScript(c, t.name, t.user)), revokeTokenScript(c, REGISTRY_PULL_TOKEN.name, REGISTRY_PULL_TOKEN.user)].join('');
}

/** One Gitea token of the catalogue. */
export interface TokenKey {
  readonly spec: SecretSpec;
  readonly key: string;
  readonly scopes: readonly string[];
  /** Who owns the token; it is created with that user's credentials. */
  readonly user: GiteaLogin;
  /** Token name in Gitea, unique per catalogue key. */
  readonly name: string;
}

/** Every `gitea-token` key of the catalogue. */
export function tokenKeys(c: RaibidConfig): TokenKey[] {
  return SECRETS.flatMap((spec) =>
    Object.entries(spec.keys).flatMap(([key, value]) =>
      value.from === 'gitea-token' ? [{ spec, key, scopes: value.scopes, user: value.user, name: `raibid-${secretNamespace(c, spec)}-${spec.name}-${key}` }] : [],
    ),
  );
}

/**
 * The token containerd pulls images from the Gitea registry with (written into registries.yaml by the
 * RegistryAuth step, never into a Kubernetes Secret, so it is not in the catalogue). Pull only; the
 * admin's, as registries.yaml names the admin.
 */
export const REGISTRY_PULL_TOKEN = { name: 'raibid-node-registry-pull', scopes: ['read:package'], user: 'admin' } as const;

/**
 * Everything a token's create and delete scripts are built from: the namespace of Gitea and of the
 * gitea-admin Secret, the owner, the token's name and its scopes. tokenScript and revokeTokenScript read
 * nothing else of the config, so the scripts change only when these do (test/bootstrap.test.ts checks it).
 */
export function tokenTriggers(c: RaibidConfig, tokenName: string, scopes: readonly string[], user: GiteaLogin): string[] {
  return [loginName(c, user), tokenName, ...scopes, c.namespaces.infrastructure];
}

export interface GiteaTokensArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** The bot's password (GiteaBot), for the tokens the bot owns; a secret. */
  readonly botPassword: pulumi.Output<string>;
  /** The organisation and repository, the bot and its team, the branch protection. */
  readonly after: After;
}

export class GiteaTokens extends pulumi.ComponentResource {
  /** `<secret>/<key>` → token command (its stdout is the token, secret). */
  readonly commands: ReadonlyMap<string, command.remote.Command>;
  /** containerd's pull token (REGISTRY_PULL_TOKEN); its stdout is the token, secret. */
  readonly registry: command.remote.Command;

  constructor(name: string, args: GiteaTokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:GiteaTokens', name, {}, opts);
    const { connection, config } = args;
    // Created once, revoked on destroy; the token is kept in the state and never logged. A new owner,
    // name or scopes (triggers) or `pulumi up --replace` replaces it, revoking first: the revocation
    // goes by name, so revoking after creating would revoke the new token. Its scripts are built from
    // the triggers alone (tokenTriggers), so no unrelated config change issues a new token (one-shot.ts).
    const token = (id: string, tokenName: string, scopes: readonly string[], user: GiteaLogin) =>
      remoteCommand(
        `${name}-${id}`,
        {
          connection,
          create: tokenScript(config, tokenName, scopes, user),
          delete: revokeTokenScript(config, tokenName, user),
          // The bot logs in with its password, on stdin; the admin's comes from the cluster. A new
          // password re-runs the script: the bot's tokens are issued again with it.
          ...(user === 'bot' ? { stdin: args.botPassword } : {}),
          triggers: tokenTriggers(config, tokenName, scopes, user),
          logging: 'stderr',
          // The previous stdout is the old token.
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: args.after, additionalSecretOutputs: ['stdout', 'stdin'], deleteBeforeReplace: true, ...oneShot() },
      );
    this.commands = new Map(tokenKeys(config).map((t) => [`${t.spec.name}/${t.key}`, token(`${t.spec.name}-${t.key}`, t.name, t.scopes, t.user)]));
    this.registry = token('registry-pull', REGISTRY_PULL_TOKEN.name, REGISTRY_PULL_TOKEN.scopes, REGISTRY_PULL_TOKEN.user);
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
