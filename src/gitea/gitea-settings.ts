/**
 * Gitea's configuration, as `GITEA__<section>__<KEY>` environment variables.
 *
 * Why environment variables: the rootless image's entrypoint renders `/etc/gitea/app.ini` from its
 * template at every container start and then applies every `GITEA__section__KEY` variable to it
 * (`environment-to-ini`). The whole configuration is therefore in the pod template, visible in git, and a
 * change rolls the pod. `/etc/gitea` is an emptyDir: writable (the entrypoint rewrites app.ini) and never
 * stale. A `.` in a section name is written `_0X2E_` (`cron.update_checker` → `cron_0X2E_update_checker`).
 *
 * Secrets never appear as values: the four Gitea secrets are read from the mounted `gitea-secrets`
 * Secret through `*_URI=file:` settings (Gitea reads the file itself), and the database password through
 * `GITEA__database__PASSWD__FILE` (environment-to-ini reads the file into the pod-local app.ini).
 * @see https://docs.gitea.com/administration/config-cheat-sheet
 * @see https://docs.gitea.com/installation/install-with-docker-rootless#managing-deployments-with-environment-variables
 */
import type { RaibidConfig } from '../config/resolve.js';
import { API_SERVICE, GITEA_HTTP_PORT, GITEA_SSH_PORT, POSTGRES_PORT, POSTGRES_SERVICE, giteaPublicUrl, serviceHost } from '../endpoints.js';

/** Where the gitea-secrets Secret is mounted. */
export const GITEA_SECRETS_DIR = '/etc/gitea-secrets';
/** Where the gitea-postgres Secret (key `password`) is mounted in the Gitea pod. */
export const GITEA_DB_SECRET_DIR = '/etc/gitea-db';
/** Gitea's work dir (the data volume): repositories, packages, LFS, indexes. */
export const GITEA_WORK_DIR = '/var/lib/gitea';
/** Directory of app.ini (an emptyDir; the image's GITEA_APP_INI points here). */
export const GITEA_CONFIG_DIR = '/etc/gitea';
/** Database and role name of Gitea in PostgreSQL. */
export const GITEA_DB_NAME = 'gitea';
export const GITEA_DB_USER = 'gitea';

/**
 * Hosts Gitea may deliver webhooks to: the API's in-cluster Service, nothing else. Gitea matches the
 * host name of the webhook URL, so this must be the name the URL uses (`apiWebhookUrl()`).
 */
export function giteaWebhookHosts(c: RaibidConfig): string[] {
  return [serviceHost(API_SERVICE, c.namespaces.ci)];
}

/** Every setting as section → key → value. Keys ending in `__FILE` name a file whose content is the value. */
export function giteaSettings(c: RaibidConfig): Record<string, Record<string, string>> {
  const file = (key: string) => `file:${GITEA_SECRETS_DIR}/${key}`;
  return {
    server: {
      DOMAIN: c.registryHost,
      ROOT_URL: giteaPublicUrl(c),
      PROTOCOL: 'http',
      HTTP_PORT: String(GITEA_HTTP_PORT),
      SSH_DOMAIN: c.registryHost,
      // The LAN LoadBalancer exposes SSH on the same port the built-in server listens on.
      SSH_PORT: String(GITEA_SSH_PORT),
      SSH_LISTEN_PORT: String(GITEA_SSH_PORT),
      START_SSH_SERVER: 'true',
      LFS_START_SERVER: 'true',
      LFS_JWT_SECRET_URI: file('lfs-jwt-secret'),
      OFFLINE_MODE: 'true',
      LANDING_PAGE: 'login',
    },
    database: {
      DB_TYPE: 'postgres',
      HOST: `${serviceHost(POSTGRES_SERVICE, c.namespaces.infrastructure)}:${POSTGRES_PORT}`,
      NAME: GITEA_DB_NAME,
      USER: GITEA_DB_USER,
      PASSWD__FILE: `${GITEA_DB_SECRET_DIR}/password`,
      // In-cluster only, and the NetworkPolicy admits only Gitea's pods to PostgreSQL.
      SSL_MODE: 'disable',
    },
    security: {
      INSTALL_LOCK: 'true',
      SECRET_KEY_URI: file('secret-key'),
      INTERNAL_TOKEN_URI: file('internal-token'),
      // The image's template trusts X-Forwarded-For from anyone; no proxy sits in front of Gitea here.
      REVERSE_PROXY_TRUSTED_PROXIES: '127.0.0.0/8,::1/128',
    },
    oauth2: { JWT_SECRET_URI: file('jwt-secret') },
    service: {
      DISABLE_REGISTRATION: 'true',
      REQUIRE_SIGNIN_VIEW: 'true',
      DEFAULT_ALLOW_CREATE_ORGANIZATION: 'false',
      // Basic authentication stays on: the token API and `docker login` need it.
      ENABLE_BASIC_AUTHENTICATION: 'true',
    },
    // Only users allowed one by one may create organisations: new users may not
    // (DEFAULT_ALLOW_CREATE_ORGANIZATION), and bootstrap allows the bot alone, whose mirror token (and
    // no other) carries the write:organization scope `raibid mirror sync` creates mirror organisations with.
    admin: { DISABLE_REGULAR_ORG_CREATION: 'false' },
    // Migrations (pull mirrors) only from GitHub; never from the LAN or the cluster (ALLOW_LOCALNETWORKS).
    migrations: { ALLOWED_DOMAINS: 'github.com', ALLOW_LOCALNETWORKS: 'false' },
    openid: { ENABLE_OPENID_SIGNIN: 'false', ENABLE_OPENID_SIGNUP: 'false' },
    webhook: { ALLOWED_HOST_LIST: giteaWebhookHosts(c).join(','), SKIP_TLS_VERIFY: 'false' },
    packages: { ENABLED: 'true' },
    repository: { DEFAULT_BRANCH: 'main', DEFAULT_PRIVATE: 'private' },
    // Raibid runs its own CI; Gitea Actions would be a second, unreviewed execution path.
    actions: { ENABLED: 'false' },
    'cron.update_checker': { ENABLED: 'false' },
    log: { MODE: 'console', LEVEL: 'info' },
  };
}

/** `GITEA__section__KEY` name for a setting (`.` in a section becomes `_0X2E_`). */
export function giteaEnvName(section: string, key: string): string {
  return `GITEA__${section.replace(/\./g, '_0X2E_')}__${key}`;
}

/** The settings as environment variables, in a stable order. */
export function giteaEnv(c: RaibidConfig): { name: string; value: string }[] {
  return Object.entries(giteaSettings(c)).flatMap(([section, keys]) => Object.entries(keys).map(([key, value]) => ({ name: giteaEnvName(section, key), value })));
}
