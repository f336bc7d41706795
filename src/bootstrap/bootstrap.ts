/**
 * The whole bootstrap as one component: each step a child component, each depending on the one before.
 *
 *   preflight → k3s (config files, userns sysctl, install) → kubeconfig + provider → namespaces →
 *   secrets → platform (Gitea, PostgreSQL) → gitea (ready, org/repo, push as the admin, branch
 *   protection) and bot (user, team) → tokens → token secrets → registry auth (registries.yaml with
 *   containerd's pull token; restarts k3s, so it waits for every step that talks to the API server) →
 *   flux (operator, instance) → flux sync (GitRepository, root Kustomization) → token revocation (its
 *   `delete` runs first on destroy, while Gitea still runs)
 *
 * Rotation: the gitea step puts a new PostgreSQL or admin password into effect (rotation-scripts.ts).
 */
import * as pulumi from '@pulumi/pulumi';
import type { RaibidConfig } from '../config/resolve.js';
import { apiWebhookUrl, giteaPublicUrl } from '../endpoints.js';
import type { Manifest } from '../gitops/render.js';
import { SECRETS, type SecretSpec, type SecretValue } from '../secrets/catalog.js';
import { sshConnection } from './connection.js';
import { Credentials } from './credentials.js';
import { after } from './deps.js';
import { Flux, FluxSync } from './flux.js';
import { Gitea, GiteaTokens, TokenRevocation } from './gitea.js';
import { GiteaBot } from './gitea-bot.js';
import { K3s } from './k3s.js';
import { Kubeconfig } from './kubeconfig.js';
import { splitBundle } from './manifests.js';
import { Namespaces, Platform } from './platform.js';
import { Preflight } from './preflight.js';
import { RegistryAuth } from './registry-auth.js';
import type { RepoSnapshot } from './repo-snapshot.js';
import { Secrets } from './secrets.js';
import type { StackConfig } from './stack-config.js';
import { FLUX_VERSION, K3S_VERSION } from './versions.js';

/** Everything the bootstrap reads before it creates anything. */
export interface BootstrapInputs {
  readonly stack: StackConfig;
  readonly config: RaibidConfig;
  /** dist/bootstrap.k8s.yaml */
  readonly bundle: readonly Manifest[];
  /** flux-system GitRepository and root Kustomization from clusters/<name>/ */
  readonly fluxSync: readonly Manifest[];
  readonly repo: RepoSnapshot;
}

/** The stack outputs (step 8). */
export interface BootstrapOutputs {
  /** Gitea on the LAN (also its ROOT_URL). */
  readonly giteaUrl: string;
  /** Image registry host: `<registryHost>/<org>/<image>:<tag>`. */
  readonly registryHost: string;
  /** Where Gitea delivers webhooks (the API, in-cluster). */
  readonly apiWebhookUrl: string;
  /** The GitOps repository on the LAN; add it as a git remote and push there from now on. */
  readonly gitopsRepository: string;
  readonly giteaAdminUser: string;
  /** The non-admin user the agents and the API act as. */
  readonly giteaBotUser: string;
  /** Secret output. */
  readonly giteaAdminPassword: pulumi.Output<string>;
  /** How to read the admin password. */
  readonly giteaAdminPasswordCommand: string;
  /** Admin kubeconfig of the cluster; secret output. */
  readonly kubeconfig: pulumi.Output<string>;
  /** What the preflight found on the machine. */
  readonly node: pulumi.Output<Record<string, string>>;
  readonly k3sVersion: string;
  readonly fluxVersion: string;
}

/** Entries of the catalogue that hold a Gitea token (created after Gitea runs). */
function needsToken(spec: SecretSpec): boolean {
  return Object.values(spec.keys).some((v) => v.from === 'gitea-token');
}

export class Bootstrap extends pulumi.ComponentResource {
  readonly preflight: Preflight;
  readonly k3s: K3s;
  readonly kubeconfig: Kubeconfig;
  readonly namespaces: Namespaces;
  readonly credentials: Credentials;
  readonly secrets: Secrets;
  readonly platform: Platform;
  readonly gitea: Gitea;
  readonly bot: GiteaBot;
  readonly tokens: GiteaTokens;
  readonly tokenSecrets: Secrets;
  readonly registryAuth: RegistryAuth;
  readonly flux: Flux;
  readonly fluxSync: FluxSync;
  readonly revocation: TokenRevocation;
  readonly outputs: BootstrapOutputs;

  constructor(name: string, inputs: BootstrapInputs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Bootstrap', name, {}, opts);
    const { stack, config } = inputs;
    const connection = sshConnection(stack);
    const child = { parent: this };

    this.preflight = new Preflight(`${name}-preflight`, { connection, config, host: stack.host }, child);
    this.k3s = new K3s(`${name}-k3s`, { connection, config, host: stack.host, after: [this.preflight.check] }, child);
    this.kubeconfig = new Kubeconfig(`${name}-kubeconfig`, {
        connection,
        host: stack.host,
        apiServerPort: config.network.apiServerPort,
        clusterName: config.cluster.name,
        install: this.k3s.install,
        ...(stack.kubeconfigRefresh ? { refresh: stack.kubeconfigRefresh } : {}),
      }, child);
    const provider = this.kubeconfig.provider;

    const { foundation, platform } = splitBundle(inputs.bundle);
    this.namespaces = new Namespaces(`${name}-namespaces`, { config, objects: foundation, provider, after: [provider] }, child);

    this.credentials = new Credentials(`${name}-credentials`, child);
    let tokens: GiteaTokens | undefined;
    const resolve = (spec: SecretSpec, key: string, value: SecretValue): pulumi.Output<string> => {
      switch (value.from) {
        case 'random':
          return this.credentials.value(spec.name, key);
        case 'config':
          return pulumi.output(value.value(config));
        case 'copy': {
          const source = SECRETS.find((s) => s.name === value.secret);
          const sourceValue = source?.keys[value.key];
          if (!source || !sourceValue) throw new Error(`src/secrets/catalog.ts: ${spec.name}/${key} copies ${value.secret}/${value.key}, which is not in the catalogue`);
          return resolve(source, value.key, sourceValue);
        }
        case 'gitea-token':
          if (!tokens) throw new Error(`internal: ${spec.name}/${key} needs a Gitea token before Gitea runs`);
          return tokens.value(spec.name, key);
        case 'stack':
          // An optional stack secret: empty when unset (the Secret exists either way).
          return stack[value.key] ?? pulumi.secret('');
      }
    };
    this.secrets = new Secrets(`${name}-secrets`, { config, specs: SECRETS.filter((s) => !needsToken(s)), resolve, provider, after: this.namespaces.created }, child);
    const secretsCreated = [...this.secrets.secrets.values()];

    this.platform = new Platform(`${name}-platform`, { objects: platform, provider, after: after(this.namespaces.created, secretsCreated) }, child);
    // Everything applied so far: the platform alone may be empty while components are being written.
    const passwords = { admin: this.credentials.value('gitea-admin', 'password'), database: this.credentials.value('gitea-postgres', 'password') };
    this.gitea = new Gitea(`${name}-gitea`, { connection, config, repo: inputs.repo, passwords, after: after(this.namespaces.created, secretsCreated, this.platform.created) }, child);
    this.bot = new GiteaBot(`${name}-bot`, { connection, config, after: [this.gitea.ready, this.gitea.repository] }, child);
    // The bot's tokens exist only once it is in its team and the GitOps branch is out of its reach.
    const access = [this.gitea.repository, this.gitea.protection, this.bot.user, this.bot.team];
    tokens = new GiteaTokens(`${name}-tokens`, { connection, config, botPassword: this.bot.passwordValue(), after: access }, child);
    this.tokens = tokens;
    this.tokenSecrets = new Secrets(
      `${name}-token-secrets`,
      { config, specs: SECRETS.filter(needsToken), resolve, provider, after: after(this.namespaces.created, [...tokens.commands.values()]) },
      child,
    );
    const tokenSecretsCreated = [...this.tokenSecrets.secrets.values()];

    // containerd logs in to the Gitea registry before Flux deploys anything that pulls from it. Writing
    // its file restarts k3s: it waits until nothing else talks to the API server (or to Gitea through it).
    this.registryAuth = new RegistryAuth(
      `${name}-registry-auth`,
      { connection, config, token: tokens.registryToken(), k3s: this.k3s, after: after(access, tokens.registry, [...tokens.commands.values()], tokenSecretsCreated) },
      child,
    );

    this.flux = new Flux(`${name}-flux`, { provider, after: [this.gitea.push, ...tokenSecretsCreated, this.registryAuth.file] }, child);
    this.fluxSync = new FluxSync(`${name}-flux-sync`, { objects: inputs.fluxSync, provider, after: [this.flux.instance, ...tokenSecretsCreated] }, child);
    // Last to be created, first to be deleted: tokens are revoked before Flux prunes Gitea.
    this.revocation = new TokenRevocation(`${name}-token-revocation`, { connection, config, after: [this.fluxSync.source, this.fluxSync.root, ...tokens.commands.values(), tokens.registry] }, child);

    const admin = this.credentials.value('gitea-admin', 'password');
    this.outputs = {
      giteaUrl: giteaPublicUrl(config),
      registryHost: config.registryHost,
      apiWebhookUrl: apiWebhookUrl(config),
      gitopsRepository: `${giteaPublicUrl(config)}${config.flux.organization}/${config.flux.repository}.git`,
      giteaAdminUser: config.gitea.admin.username,
      giteaBotUser: config.gitea.bot.username,
      giteaAdminPassword: admin,
      giteaAdminPasswordCommand: 'pulumi stack output giteaAdminPassword --show-secrets',
      kubeconfig: this.kubeconfig.kubeconfig,
      node: this.preflight.facts,
      k3sVersion: K3S_VERSION,
      fluxVersion: FLUX_VERSION,
    };
    this.registerOutputs({ ...this.outputs });
  }
}
