/**
 * Remote scripts that talk to the in-cluster Gitea from the machine itself: through the ClusterIP of the
 * gitea-http Service (the node routes Service IPs), as the admin user whose credentials are read from
 * the gitea-admin Secret on the machine. No credential ever appears in a command line or in Pulumi's
 * inputs; only the tokens come back, on stdout, as secret outputs.
 *
 * @see https://docs.gitea.com/api/1.25/
 */
import type { RaibidConfig } from '../config/resolve.js';
import { GITEA_HTTP_PORT, GITEA_HTTP_SERVICE } from '../endpoints.js';
import { secretKeyRef } from '../secrets/catalog.js';
import { script, sh } from './shell.js';

/** How long the readiness check waits for Gitea: attempts × seconds. */
export const GITEA_READY_ATTEMPTS = 120;
export const GITEA_READY_INTERVAL_SECONDS = 5;

/**
 * Common head of every Gitea script: a private work folder, `$gitea` (base URL), the admin credentials
 * in files, `api METHOD PATH [JSON]` (body on stdout, fails on HTTP errors) and `status METHOD PATH`.
 */
export function giteaPrelude(c: RaibidConfig): string {
  const ns = c.namespaces.infrastructure;
  const user = secretKeyRef('gitea-admin', 'username');
  const pass = secretKeyRef('gitea-admin', 'password');
  const field = (key: string) => sh(`{.data.${key}}`);
  return [
    'umask 077',
    'work=$(mktemp -d)',
    `trap 'rm -rf "$work"' EXIT`,
    `kc() { sudo k3s kubectl -n ${sh(ns)} "$@"; }`,
    `ip=$(kc get service ${sh(GITEA_HTTP_SERVICE)} -o jsonpath='{.spec.clusterIP}')`,
    `gitea="http://$ip:${GITEA_HTTP_PORT}"`,
    `kc get secret ${sh(user.name)} -o jsonpath=${field(user.key)} | base64 -d > "$work/user"`,
    `kc get secret ${sh(pass.name)} -o jsonpath=${field(pass.key)} | base64 -d > "$work/pass"`,
    // printf is a shell builtin: the password never shows up in a process list.
    `printf 'user = "%s:%s"\\n' "$(cat "$work/user")" "$(cat "$work/pass")" > "$work/curlrc"`,
    `api() { curl -sS --fail-with-body -K "$work/curlrc" -X "$1" -H 'Content-Type: application/json' \${3:+--data "$3"} "$gitea/api/v1$2"; }`,
    `status() { curl -sS -o /dev/null -w '%{http_code}' -K "$work/curlrc" -X "$1" "$gitea/api/v1$2"; }`,
  ].join('\n');
}

/** Waits until Gitea answers /api/healthz and the admin can log in. */
export function readyScript(c: RaibidConfig): string {
  const minutes = (GITEA_READY_ATTEMPTS * GITEA_READY_INTERVAL_SECONDS) / 60;
  return script(
    giteaPrelude(c),
    `for i in $(seq 1 ${GITEA_READY_ATTEMPTS}); do`,
    `  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$gitea/api/healthz")" = 200 ] && [ "$(status GET /user)" = 200 ]; then echo "Gitea is up at $gitea"; exit 0; fi`,
    `  sleep ${GITEA_READY_INTERVAL_SECONDS}`,
    'done',
    `echo "Gitea at $gitea did not pass /api/healthz and the admin login within ${minutes} minutes; look at: sudo k3s kubectl -n ${c.namespaces.infrastructure} get pods" >&2`,
    'exit 1',
  );
}

/**
 * Creates the organisation (public, which with REQUIRE_SIGNIN_VIEW means visible to signed-in users:
 * containerd pulls its images with a read:package token, see registry-auth.ts) and the private
 * repository, unless they exist.
 */
export function repositoryScript(c: RaibidConfig): string {
  const { organization: org, repository: repo, branch } = c.flux;
  const orgBody = JSON.stringify({ username: org, visibility: 'public', description: 'raibid-ci: GitOps repository and CI images' });
  const repoBody = JSON.stringify({ name: repo, private: true, auto_init: false, default_branch: branch, description: 'raibid-ci GitOps repository (Flux reconciles this)' });
  const ensure = (what: string, path: string, create: string, body: string) => [
    `case "$(status GET ${sh(path)})" in`,
    `  200) echo ${sh(`${what} exists`)} ;;`,
    `  404) api POST ${sh(create)} ${sh(body)} > /dev/null; echo ${sh(`created ${what}`)} ;;`,
    `  *) echo ${sh(`unexpected answer from Gitea for GET ${path}`)} >&2; exit 1 ;;`,
    'esac',
  ];
  return script(giteaPrelude(c), ...ensure(`organisation ${org}`, `/orgs/${org}`, '/orgs', orgBody), ...ensure(`repository ${org}/${repo}`, `/repos/${org}/${repo}`, `/orgs/${org}/repos`, repoBody));
}

/**
 * Creates a fresh admin token named `name` (replacing one of that name) and prints only the token.
 * Token endpoints accept basic auth only, hence the admin password.
 */
export function tokenScript(c: RaibidConfig, name: string, scopes: readonly string[]): string {
  const body = JSON.stringify({ name, scopes });
  return script(
    giteaPrelude(c),
    'user=$(cat "$work/user")',
    `status DELETE "/users/$user/tokens/"${sh(name)} > /dev/null`,
    `body=$(api POST "/users/$user/tokens" ${sh(body)})`,
    `token=$(printf '%s' "$body" | sed -n 's/.*"sha1":"\\([^"]*\\)".*/\\1/p')`,
    `[ -n "$token" ] || { echo ${sh(`Gitea returned no token for ${name}`)} >&2; exit 1; }`,
    `printf '%s' "$token"`,
  );
}

/** Revokes the token on `pulumi destroy`; best effort (Gitea may be gone already). */
export function revokeTokenScript(c: RaibidConfig, name: string): string {
  const inner = script(giteaPrelude(c), 'user=$(cat "$work/user")', `status DELETE "/users/$user/tokens/"${sh(name)} > /dev/null`);
  return `sh -c ${sh(inner)} || true\n`;
}

/**
 * Pushes the bundled branch into the empty repository. A repository that already has the branch is left
 * alone: after bootstrap, changes reach Gitea by `git push`, never by re-running the bootstrap.
 */
export function pushScript(c: RaibidConfig, bundlePath: string): string {
  const { organization: org, repository: repo, branch } = c.flux;
  return script(
    giteaPrelude(c),
    `cat > "$work/askpass" <<'EOF'`,
    '#!/bin/sh',
    'case "$1" in Username*) cat "$RAIBID_WORK/user" ;; *) cat "$RAIBID_WORK/pass" ;; esac',
    'EOF',
    'chmod 700 "$work/askpass"',
    'export GIT_ASKPASS="$work/askpass" RAIBID_WORK="$work" GIT_TERMINAL_PROMPT=0',
    `url="$gitea/${org}/${repo}.git"`,
    `if git ls-remote --exit-code --heads "$url" ${sh(branch)} > /dev/null 2>&1; then`,
    `  echo ${sh(`${org}/${repo} already has ${branch}; bootstrap pushes only into an empty repository`)}`,
    'else',
    `  git clone --quiet --bare ${sh(bundlePath)} "$work/repo.git"`,
    `  git -C "$work/repo.git" push --quiet "$url" ${sh(`refs/heads/${branch}:refs/heads/${branch}`)}`,
    `  echo "pushed ${branch} ($(git -C "$work/repo.git" rev-parse --short ${sh(`refs/heads/${branch}`)})) to ${org}/${repo}"`,
    'fi',
    `rm -f ${sh(bundlePath)}`,
  );
}
