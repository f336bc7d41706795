/**
 * Every Secret the synthesized manifests reference, and how bootstrap fills it. Secrets never go into
 * git: manifests name them (through the helpers below, which refuse names not listed here) and the
 * Pulumi bootstrap creates exactly this set. test/secret-contract.test.ts proves the two agree.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { REDIS_AGENT_USER, REDIS_API_USER, REDIS_KEDA_USER } from '../redis/acl.js';

/** Where a key's value comes from when bootstrap creates the Secret. */
export type SecretValue =
  /** A random password of `length` characters (alphanumeric unless `special`). */
  | { readonly from: 'random'; readonly length: number; readonly special?: boolean }
  /** A value from raibid.yaml (not secret by itself, kept with its password for convenience). */
  | { readonly from: 'config'; readonly value: (c: RaibidConfig) => string }
  /** The same value as another catalogue key (a password needed in two namespaces). */
  | { readonly from: 'copy'; readonly secret: string; readonly key: string }
  /**
   * A Gitea access token that bootstrap creates through Gitea's API, for the admin user or for the
   * non-admin bot user (`gitea.bot`) that builds act as.
   */
  | { readonly from: 'gitea-token'; readonly user: 'admin' | 'bot'; readonly scopes: readonly string[] }
  /**
   * An optional secret setting of the Pulumi stack (`pulumi config set --secret raibid-ci:<key> …`);
   * bootstrap writes an empty value when it is not set, so the Secret always exists.
   */
  | { readonly from: 'stack'; readonly key: StackSecretKey; readonly optional: true };

/** Secret settings of the Pulumi stack the catalogue reads (src/bootstrap/stack-config.ts). */
export type StackSecretKey = 'githubToken';

export interface SecretSpec {
  /** Key of `namespaces` in raibid.yaml, or `flux-system`. */
  readonly namespace: keyof RaibidConfig['namespaces'] | 'flux-system';
  readonly name: string;
  readonly keys: Readonly<Record<string, SecretValue>>;
  /** What it is for (shown in the README and bootstrap outputs). */
  readonly description: string;
  /**
   * Keys that no manifest reads: bootstrap consumes them itself (as a remote step's stdin, or read from
   * the cluster by its scripts). test/secret-contract.test.ts holds every manifest to not reading them.
   * @default - every key is read by a manifest
   */
  readonly readByBootstrapOnly?: readonly string[];
}

const random = (length: number): SecretValue => ({ from: 'random', length });

/** The catalogue. Order is the order bootstrap creates them. */
export const SECRETS: readonly SecretSpec[] = [
  {
    namespace: 'infrastructure',
    name: 'gitea-admin',
    description: 'Gitea administrator: created at Gitea start (username only), its password set by bootstrap through the API',
    keys: { username: { from: 'config', value: (c) => c.gitea.admin.username }, password: random(32) },
    // The Gitea CLI takes a password only as an argument: the pod never gets it (src/gitea/admin-script.ts).
    readByBootstrapOnly: ['password'],
  },
  {
    namespace: 'infrastructure',
    name: 'gitea-secrets',
    description: 'Gitea SECRET_KEY, INTERNAL_TOKEN and JWT secrets (read from files, never env literals)',
    keys: { 'secret-key': random(64), 'internal-token': random(96), 'jwt-secret': random(43), 'lfs-jwt-secret': random(43) },
  },
  {
    namespace: 'infrastructure',
    name: 'gitea-postgres',
    description: 'PostgreSQL password of the gitea database user',
    keys: { password: random(32) },
  },
  {
    namespace: 'infrastructure',
    name: 'redis-users',
    description: 'Passwords of the Redis ACL users (api, agent, keda); the ACL file is built from them at start',
    keys: { 'api-password': random(32), 'agent-password': random(32), 'keda-password': random(32) },
  },
  {
    namespace: 'ci',
    name: 'redis-api',
    description: 'Redis credentials of the API (producer)',
    keys: { username: { from: 'config', value: () => REDIS_API_USER }, password: { from: 'copy', secret: 'redis-users', key: 'api-password' } },
  },
  {
    namespace: 'ci',
    name: 'redis-agent',
    description: 'Redis credentials of the agents (consume and acknowledge)',
    keys: { username: { from: 'config', value: () => REDIS_AGENT_USER }, password: { from: 'copy', secret: 'redis-users', key: 'agent-password' } },
  },
  {
    namespace: 'ci',
    name: 'redis-keda',
    description: 'Redis credentials KEDA reads stream and group info with',
    keys: { username: { from: 'config', value: () => REDIS_KEDA_USER }, password: { from: 'copy', secret: 'redis-users', key: 'keda-password' } },
  },
  {
    namespace: 'ci',
    name: 'webhook-hmac',
    description: 'HMAC secret Gitea signs webhooks with; the API verifies it',
    keys: { secret: random(48) },
  },
  {
    namespace: 'ci',
    name: 'raibid-api-tokens',
    description: 'Bearer tokens of the raibid API: admin (read, cancel, retry, trigger) and read (read only)',
    keys: { admin: random(48), read: random(48) },
  },
  {
    namespace: 'ci',
    name: 'gitea-agent-token',
    description: 'Gitea token of the bot user (not the admin) that agents and the API clone, report status and push images with',
    keys: { token: { from: 'gitea-token', user: 'bot', scopes: ['write:repository', 'write:package', 'read:organization'] } },
  },
  {
    namespace: 'ci',
    name: 'gitea-mirror-token',
    description: 'Gitea token of the bot user that `raibid mirror sync` creates mirror organisations and pull mirrors with (only the mirror CronJob mounts it)',
    keys: { token: { from: 'gitea-token', user: 'bot', scopes: ['write:repository', 'write:organization'] } },
  },
  {
    namespace: 'ci',
    name: 'github-mirror',
    description: 'GitHub token of the mirrors (stack setting raibid-ci:githubToken; empty when unset): private repositories and the higher API rate limit',
    keys: { token: { from: 'stack', key: 'githubToken', optional: true } },
  },
  {
    namespace: 'ci',
    name: 'github-webhook-hmac',
    description: 'HMAC secret of GitHub push webhooks (X-Hub-Signature-256) that sync a mirror at once; the API verifies it',
    keys: { secret: random(48) },
  },
  {
    namespace: 'images',
    name: 'image-builder',
    description:
      'Gitea token of the admin that the image build Jobs read the GitOps repository and push raibid-ci\'s own images with (the admin\'s registry namespace, which the bot cannot write to)',
    keys: { username: { from: 'config', value: (c) => c.gitea.admin.username }, token: { from: 'gitea-token', user: 'admin', scopes: ['read:repository', 'write:package'] } },
  },
  {
    namespace: 'flux-system',
    name: 'flux-system',
    description: 'Credentials Flux pulls the GitOps repository from Gitea with',
    keys: { username: { from: 'config', value: (c) => c.gitea.admin.username }, password: { from: 'gitea-token', user: 'admin', scopes: ['read:repository'] } },
  },
];

/** Actual namespace of a catalogue entry for a config. */
export function secretNamespace(c: RaibidConfig, spec: SecretSpec): string {
  return spec.namespace === 'flux-system' ? 'flux-system' : c.namespaces[spec.namespace];
}

function find(name: string, key?: string): SecretSpec {
  const spec = SECRETS.find((s) => s.name === name);
  if (!spec) throw new Error(`Secret ${JSON.stringify(name)} is not in src/secrets/catalog.ts; add it there so bootstrap creates it`);
  if (key !== undefined && !(key in spec.keys)) throw new Error(`Secret ${name} has no key ${JSON.stringify(key)} in src/secrets/catalog.ts (keys: ${Object.keys(spec.keys).join(', ')})`);
  return spec;
}

/** `{ name, key }` for an env var's `valueFrom.secretKeyRef`; throws when not catalogued. */
export function secretKeyRef(name: string, key: string): { name: string; key: string } {
  find(name, key);
  return { name, key };
}

/** The name of a catalogued Secret (for volumes, secretRef, TriggerAuthentication); throws when not catalogued. */
export function secretName(name: string): string {
  return find(name).name;
}
