/**
 * Secret rotation where a new Secret value alone changes nothing:
 *
 *   PostgreSQL  the image reads POSTGRES_PASSWORD_FILE only when it initialises an empty data folder, so
 *               a new `gitea-postgres` password must be set inside the database (ALTER ROLE), and Gitea,
 *               which reads it from a file at start, restarted.
 *   Gitea admin the Gitea CLI takes a password only as an argument, so the `configure` init container
 *               creates the admin with a random one (src/gitea/admin-script.ts) and the password of the
 *               `gitea-admin` Secret is set through Gitea's API here; Gitea does not restart.
 *
 * Both run whenever the value on their stdin (the password, a secret) changes, and converge: a password
 * that already works changes nothing and restarts nothing. No password is ever an argument: psql reads
 * the statement on stdin, the PostgreSQL login check reads the password from stdin into its environment
 * (inside the pod), and curl reads Gitea credentials and bodies from files.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { GITEA_HTTP_PORT, GITEA_HTTP_SERVICE, POSTGRES_SERVICE } from '../endpoints.js';
import { GITEA_APP, GITEA_CONTAINER } from '../gitea/gitea.js';
import { GITEA_DB_NAME, GITEA_DB_USER } from '../gitea/gitea-settings.js';
import { CURL_TIMEOUTS } from './gitea-scripts.js';
import { expand, script, sh, word } from './shell.js';

/** Seconds a restarted Gitea gets to roll out. */
export const GITEA_ROLLOUT_TIMEOUT_SECONDS = 600;

/** Restarts the Gitea Deployment and waits until the new pod is ready. */
function restartGitea(why: string): string[] {
  return [
    `echo ${sh(`restarting Gitea: ${why}`)}`,
    `kc rollout restart ${sh(`deployment/${GITEA_APP}`)}`,
    `kc rollout status ${sh(`deployment/${GITEA_APP}`)} --timeout=${GITEA_ROLLOUT_TIMEOUT_SECONDS}s`,
  ];
}

/**
 * Sets the password on stdin (the `gitea-postgres` Secret's) for the database user when it does not log
 * in, then restarts Gitea.
 */
export function postgresPasswordScript(c: RaibidConfig): string {
  const ns = c.namespaces.infrastructure;
  const pod = `${POSTGRES_SERVICE}-0`;
  // Over TCP, so the password is checked (local socket connections are trusted in the official image).
  const login = `PGPASSWORD=$(cat) psql -h 127.0.0.1 -U ${GITEA_DB_USER} -d ${GITEA_DB_NAME} -tAc 'select 1'`;
  return script(
    'umask 077',
    'work=$(mktemp -d)',
    `trap 'rm -rf "$work"' EXIT`,
    'cat > "$work/password"',
    `[ -s "$work/password" ] || { echo ${sh('no PostgreSQL password on stdin')} >&2; exit 1; }`,
    `kc() { sudo k3s kubectl -n ${sh(ns)} "$@"; }`,
    `kc rollout status ${sh(`statefulset/${POSTGRES_SERVICE}`)} --timeout=300s > /dev/null`,
    // $(cat) expands inside the pod, where the password arrives on stdin.
    '# shellcheck disable=SC2016',
    `if kc exec -i ${sh(pod)} -c postgres -- sh -c ${sh(login)} < "$work/password" > /dev/null 2>&1; then echo ${sh(`PostgreSQL password of ${GITEA_DB_USER} unchanged`)}; exit 0; fi`,
    // The statement on psql's stdin, the password inside it with ' doubled (SQL string literal).
    `{ printf '%s' ${sh(`ALTER ROLE "${GITEA_DB_USER}" WITH PASSWORD '`)}; tr -d '\\n' < "$work/password" | sed "s/'/''/g"; printf "';\\n"; } > "$work/alter.sql"`,
    `kc exec -i ${sh(pod)} -c postgres -- psql -v ON_ERROR_STOP=1 -q -U ${sh(GITEA_DB_USER)} -d ${sh(GITEA_DB_NAME)} < "$work/alter.sql"`,
    `echo ${sh(`PostgreSQL password of ${GITEA_DB_USER} set from Secret ${ns}/gitea-postgres`)}`,
    ...restartGitea('it reads the database password at start'),
  );
}

/** Prefix of the short-lived admin tokens the admin-password step mints; leftovers are swept by name. */
export const PASSWORD_SYNC_TOKEN_PREFIX = 'raibid-password-sync-';

/**
 * Sets the `gitea-admin` Secret's password (on stdin) as the Gitea admin's password through Gitea's API,
 * without restarting Gitea. Converges: when the password already logs in, nothing changes.
 *
 * Otherwise: a short-lived `write:admin` token is minted with the Gitea CLI inside the Gitea pod
 * (`kubectl exec … gitea admin user generate-access-token --raw`; the token comes back on stdout), the
 * password is set with PATCH /admin/users/{username} (EditUserOption, body from a file), the login is
 * verified, and every token named PASSWORD_SYNC_TOKEN_PREFIX… is deleted with the new password (basic
 * auth, which Gitea requires there). A token left by a run that stopped halfway is swept by the next run.
 *
 * Nothing secret is an argument or an environment variable of any process: the password stays in files
 * of a private folder and in shell variables, written out only by the builtin printf; curl reads the
 * credentials (`-K` config files) and the body (`--data-binary @file`) from files.
 */
export function adminPasswordScript(c: RaibidConfig): string {
  const ns = c.namespaces.infrastructure;
  const user = c.gitea.admin.username;
  const get = (path: string) => `curl -sS ${CURL_TIMEOUTS} -o /dev/null -w '%{http_code}' -K "$work/login" "$gitea/api/v1${path}"`;
  const edit = JSON.stringify({ login_name: user, source_id: 0, must_change_password: false }).slice(1);
  const cli = `gitea admin user generate-access-token --username ${sh(user)} --token-name "$name" --scopes write:admin --raw`;
  return script(
    'umask 077',
    'work=$(mktemp -d)',
    `trap 'rm -rf "$work"' EXIT`,
    `kc() { sudo k3s kubectl -n ${sh(ns)} "$@"; }`,
    'cat > "$work/pass"',
    `[ -s "$work/pass" ] || { echo ${sh(`no password for the Gitea admin ${user} on stdin`)} >&2; exit 1; }`,
    `ip=$(kc get service ${sh(GITEA_HTTP_SERVICE)} -o jsonpath='{.spec.clusterIP}')`,
    `gitea="http://$ip:${GITEA_HTTP_PORT}"`,
    // curl's config syntax: " and \ escaped inside the quoted value (also the JSON escapes of the body).
    `esc() { sed 's/[\\\\"]/\\\\&/g'; }`,
    `printf 'user = "%s:%s"\\n' ${sh(user)} "$(esc < "$work/pass")" > "$work/login"`,
    // Until Gitea serves (the database-password step may just have restarted it); then the login decides.
    `for _ in $(seq 1 ${GITEA_ROLLOUT_TIMEOUT_SECONDS / 5}); do [ "$(curl -sS ${CURL_TIMEOUTS} -o /dev/null -w '%{http_code}' "$gitea/api/healthz" 2> /dev/null)" = 200 ] && break; sleep 5; done`,
    `code=$(${get('/user')})`,
    'case "$code" in',
    `  200) echo ${sh(`Gitea admin ${user}: password unchanged`)} ;;`,
    '  401)',
    `    name=${sh(PASSWORD_SYNC_TOKEN_PREFIX)}"$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n')"`,
    // The token arrives on stdout, into a variable; written to a file only by the builtin printf.
    `    token=$(kc exec ${sh(`deployment/${GITEA_APP}`)} -c ${sh(GITEA_CONTAINER)} -- ${cli}) || token=`,
    `    case "$token" in ''|*[!0-9a-f]*) echo ${sh(`the Gitea CLI returned no access token for ${user}; look at: sudo k3s kubectl -n ${ns} logs deployment/${GITEA_APP}`)} >&2; exit 1 ;; esac`,
    `    printf 'header = "Authorization: token %s"\\n' "$token" > "$work/token"`,
    `    printf '{"password":"%s",%s' "$(esc < "$work/pass")" ${sh(edit)} > "$work/body"`,
    `    if ! curl -sS ${CURL_TIMEOUTS} --fail-with-body -o "$work/answer" -K "$work/token" -X PATCH -H 'Content-Type: application/json' --data-binary @"$work/body" ${word(expand('$gitea'), `/api/v1/admin/users/${user}`)}; then cat "$work/answer" >&2; echo >&2; exit 1; fi`,
    `    [ "$(${get('/user')})" = 200 ] || { echo ${sh(`Gitea accepted the new password of ${user}, but it does not log in`)} >&2; exit 1; }`,
    `    echo ${sh(`Gitea admin ${user}: password set from Secret ${ns}/gitea-admin through the API`)} ;;`,
    `  *) echo "unexpected answer $code from Gitea for GET /user" >&2; exit 1 ;;`,
    'esac',
    // The sync tokens (this run's, or one a run that stopped halfway left), deleted with the password.
    `curl -sS ${CURL_TIMEOUTS} --fail-with-body -K "$work/login" ${word(expand('$gitea'), `/api/v1/users/${user}/tokens?limit=50`)} > "$work/tokens"`,
    `grep -o '"name":"${PASSWORD_SYNC_TOKEN_PREFIX}[0-9a-f]*"' "$work/tokens" | sed 's/^"name":"//; s/"$//' > "$work/sync-tokens" || true`,
    'while read -r t; do',
    `  curl -sS ${CURL_TIMEOUTS} --fail-with-body -o /dev/null -K "$work/login" -X DELETE ${word(expand('$gitea'), `/api/v1/users/${user}/tokens/`, expand('$t'))}`,
    '  echo "deleted the temporary access token $t"',
    'done < "$work/sync-tokens"',
  );
}
