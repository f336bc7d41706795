/**
 * Remote scripts that talk to the in-cluster Gitea from the machine itself: through the ClusterIP of the
 * gitea-http Service (the node routes Service IPs), as the admin user whose credentials are read from
 * the gitea-admin Secret on the machine, or as the bot user (`gitea.bot`), whose password arrives on
 * stdin. No credential ever appears in a command line or in Pulumi's inputs other than as a secret
 * stdin; only the tokens come back, on stdout, as secret outputs.
 *
 * @see https://docs.gitea.com/api/1.25/
 */
import type { RaibidConfig } from '../config/resolve.js';
import { GITEA_HTTP_PORT, GITEA_HTTP_SERVICE } from '../endpoints.js';
import { secretKeyRef } from '../secrets/catalog.js';
import { expand, script, sh, word } from './shell.js';

/** How long the readiness check waits for Gitea: attempts × seconds. */
export const GITEA_READY_ATTEMPTS = 120;
export const GITEA_READY_INTERVAL_SECONDS = 5;

/** curl options of every request to Gitea: a hung connection or request fails instead of hanging `pulumi up`. */
export const CURL_TIMEOUTS = '--connect-timeout 5 --max-time 60';

/** Who a script logs in to Gitea as: the admin (from the gitea-admin Secret) or the bot (password on stdin). */
export type GiteaLogin = 'admin' | 'bot';

/** The Gitea user name of a login. */
export function loginName(c: RaibidConfig, login: GiteaLogin): string {
  return login === 'admin' ? c.gitea.admin.username : c.gitea.bot.username;
}

/**
 * Common head of every Gitea script: a private work folder, `$gitea` (base URL), the credentials of
 * `login` in files, `api METHOD PATH [JSON]` (body on stdout, fails on HTTP errors), `send METHOD PATH
 * FILE` (the same with the request body read from a file, for bodies that carry a password) and
 * `status METHOD PATH`. As the bot, the script's stdin is the bot's password.
 */
export function giteaPrelude(c: RaibidConfig, login: GiteaLogin = 'admin'): string {
  const ns = c.namespaces.infrastructure;
  const user = secretKeyRef('gitea-admin', 'username');
  const pass = secretKeyRef('gitea-admin', 'password');
  const field = (key: string) => sh(`{.data.${key}}`);
  const credentials =
    login === 'admin'
      ? [
          `kc get secret ${sh(user.name)} -o jsonpath=${field(user.key)} | base64 -d > "$work/user"`,
          `kc get secret ${sh(pass.name)} -o jsonpath=${field(pass.key)} | base64 -d > "$work/pass"`,
          // sh has no pipefail: a failed read leaves an empty file, caught here rather than as a 401 later.
          `{ [ -s "$work/user" ] && [ -s "$work/pass" ]; } || { echo ${sh(`cannot read the Gitea admin credentials from Secret ${ns}/${user.name}; look at: sudo k3s kubectl -n ${ns} get secret ${user.name}`)} >&2; exit 1; }`,
        ]
      : [
          `printf '%s' ${sh(c.gitea.bot.username)} > "$work/user"`,
          // The password comes from Pulumi's state, on stdin only.
          'cat > "$work/pass"',
          `[ -s "$work/pass" ] || { echo ${sh(`no password for ${c.gitea.bot.username} on stdin`)} >&2; exit 1; }`,
        ];
  return [
    'umask 077',
    'work=$(mktemp -d)',
    `trap 'rm -rf "$work"' EXIT`,
    `kc() { sudo k3s kubectl -n ${sh(ns)} "$@"; }`,
    `ip=$(kc get service ${sh(GITEA_HTTP_SERVICE)} -o jsonpath='{.spec.clusterIP}')`,
    `gitea="http://$ip:${GITEA_HTTP_PORT}"`,
    ...credentials,
    // printf is a shell builtin: the password never shows up in a process list.
    `printf 'user = "%s:%s"\\n' "$(cat "$work/user")" "$(cat "$work/pass")" > "$work/curlrc"`,
    `api() { curl -sS ${CURL_TIMEOUTS} --fail-with-body -K "$work/curlrc" -X "$1" -H 'Content-Type: application/json' \${3:+--data "$3"} "$gitea/api/v1$2"; }`,
    `send() { curl -sS ${CURL_TIMEOUTS} --fail-with-body -K "$work/curlrc" -X "$1" -H 'Content-Type: application/json' --data-binary @"$3" "$gitea/api/v1$2"; }`,
    `status() { curl -sS ${CURL_TIMEOUTS} -o /dev/null -w '%{http_code}' -K "$work/curlrc" -X "$1" "$gitea/api/v1$2"; }`,
  ].join('\n');
}

/**
 * Waits until Gitea answers /api/healthz. Gitea serves only after its configure init container has
 * migrated the schema and created the admin; the admin's password is set by the next step
 * (adminPasswordScript in rotation-scripts.ts), so this one does not log in.
 */
export function readyScript(c: RaibidConfig): string {
  const minutes = (GITEA_READY_ATTEMPTS * GITEA_READY_INTERVAL_SECONDS) / 60;
  return script(
    giteaPrelude(c),
    `for _ in $(seq 1 ${GITEA_READY_ATTEMPTS}); do`,
    `  if [ "$(curl -sS ${CURL_TIMEOUTS} -o /dev/null -w '%{http_code}' "$gitea/api/healthz" 2> "$work/healthz.err")" = 200 ]; then echo "Gitea is up at $gitea"; exit 0; fi`,
    `  sleep ${GITEA_READY_INTERVAL_SECONDS}`,
    'done',
    `echo ${word('Gitea at ', expand('$gitea'), ` did not pass /api/healthz within ${minutes} minutes; look at: sudo k3s kubectl -n ${c.namespaces.infrastructure} get pods`)} >&2`,
    // The last curl error (connection refused, timeout), so the failure says why.
    'cat "$work/healthz.err" >&2',
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

/** The second name of a token: a new token is created under whichever of the two is free. */
export function rotatedTokenName(name: string): string {
  return `${name}.next`;
}

/**
 * Creates a fresh token for `login` and prints only the token. The new token is created before the old
 * one is deleted, so a failure leaves the old one working: it alternates between `name` and
 * rotatedTokenName(name), taking the one not in use, then deletes the other. Token endpoints accept
 * basic auth only: the admin's password from the cluster, or the bot's on stdin.
 */
export function tokenScript(c: RaibidConfig, name: string, scopes: readonly string[], login: GiteaLogin = 'admin'): string {
  const next = rotatedTokenName(name);
  return script(
    giteaPrelude(c, login),
    'user=$(cat "$work/user")',
    // The user's token names, one per line (the list never carries token values).
    `api GET "/users/$user/tokens?limit=50" | grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//' > "$work/names"`,
    `if grep -qxF ${sh(name)} "$work/names"; then new=${sh(next)}; old=${sh(name)}; body=${sh(JSON.stringify({ name: next, scopes }))}; else new=${sh(name)}; old=${sh(next)}; body=${sh(JSON.stringify({ name, scopes }))}; fi`,
    // A leftover under the new name (an earlier run that stopped halfway) goes first: names are unique.
    'if grep -qxF "$new" "$work/names"; then status DELETE "/users/$user/tokens/$new" > /dev/null; fi',
    'created=$(api POST "/users/$user/tokens" "$body")',
    `token=$(printf '%s' "$created" | sed -n 's/.*"sha1":"\\([^"]*\\)".*/\\1/p')`,
    `[ -n "$token" ] || { echo ${sh(`Gitea returned no token for ${name}`)} >&2; exit 1; }`,
    // Only now the old one.
    'if grep -qxF "$old" "$work/names"; then status DELETE "/users/$user/tokens/$old" > /dev/null; fi',
    `printf '%s' "$token"`,
  );
}

/**
 * Revokes the token of `owner` (under either of its names) on `pulumi destroy` or replacement, as the
 * admin (Gitea lets an admin delete any user's tokens), so a later change of the bot's password cannot
 * stop it; best effort (Gitea may be gone already).
 */
export function revokeTokenScript(c: RaibidConfig, name: string, owner: GiteaLogin = 'admin'): string {
  const user = loginName(c, owner);
  const inner = script(
    giteaPrelude(c),
    ...[name, rotatedTokenName(name)].map((n) => `status DELETE ${sh(`/users/${user}/tokens/${n}`)} > /dev/null`),
  );
  return `sh -c ${sh(inner)} || true\n`;
}

/**
 * Protects `flux.branch` of the GitOps repository so that only the admin may push to it (the bot has
 * write access to the organisation's repositories through its team, see gitea-bot-scripts.ts, and must
 * not be able to change what Flux applies). Creates the rule, or brings an existing one back to it.
 */
export function branchProtectionScript(c: RaibidConfig): string {
  const { organization: org, repository: repo, branch } = c.flux;
  const rule = {
    enable_push: true,
    enable_push_whitelist: true,
    push_whitelist_usernames: [c.gitea.admin.username],
    push_whitelist_teams: [],
    push_whitelist_deploy_keys: false,
    // Merging a pull request writes to the branch too.
    enable_merge_whitelist: true,
    merge_whitelist_usernames: [c.gitea.admin.username],
    merge_whitelist_teams: [],
  };
  const base = `/repos/${org}/${repo}/branch_protections`;
  const path = `${base}/${encodeURIComponent(branch)}`;
  const what = `branch ${branch} of ${org}/${repo}: only ${c.gitea.admin.username} may push`;
  return script(
    giteaPrelude(c),
    `case "$(status GET ${sh(path)})" in`,
    `  200) api PATCH ${sh(path)} ${sh(JSON.stringify(rule))} > /dev/null; echo ${sh(`${what} (rule updated)`)} ;;`,
    `  404) api POST ${sh(base)} ${sh(JSON.stringify({ rule_name: branch, branch_name: branch, ...rule }))} > /dev/null; echo ${sh(`${what} (rule created)`)} ;;`,
    `  *) echo ${sh(`unexpected answer from Gitea for GET ${path}`)} >&2; exit 1 ;;`,
    'esac',
  );
}

/**
 * Pushes the bootstrap commit from the bundle into the empty repository as `flux.branch`, as the admin.
 * A repository that already has the branch is left alone: after bootstrap, changes reach Gitea by
 * `git push`, never by re-running the bootstrap. The bundle may name the commit by any ref (the stack's
 * pin or the branch); the script takes the head at `commit`. A relative `bundlePath` is below the SSH
 * user's home, where CopyToRemote puts it (it survives a reboot, unlike /tmp).
 */
export function pushScript(c: RaibidConfig, bundlePath: string, commit: string): string {
  const { organization: org, repository: repo, branch } = c.flux;
  const bundle = bundlePath.startsWith('/') ? sh(bundlePath) : word(expand('$HOME'), `/${bundlePath}`);
  return script(
    // As the admin: the only user the branch protection lets push.
    giteaPrelude(c, 'admin'),
    `cat > "$work/askpass" <<'EOF'`,
    '#!/bin/sh',
    'case "$1" in Username*) cat "$RAIBID_WORK/user" ;; *) cat "$RAIBID_WORK/pass" ;; esac',
    'EOF',
    'chmod 700 "$work/askpass"',
    'export GIT_ASKPASS="$work/askpass" RAIBID_WORK="$work" GIT_TERMINAL_PROMPT=0',
    `url=${word(expand('$gitea'), `/${org}/${repo}.git`)}`,
    `bundle=${bundle}`,
    // No credential helper: the user's own (store, cache) would keep the admin password.
    `rc=0; git -c credential.helper= ls-remote --exit-code --heads "$url" ${sh(branch)} > /dev/null 2> "$work/ls-remote.err" || rc=$?`,
    // --exit-code: 0 the branch exists, 2 it does not; anything else is a failure (network, login).
    'case "$rc" in',
    `  0) echo ${sh(`${org}/${repo} already has ${branch}; bootstrap pushes only into an empty repository`)} ;;`,
    '  2)',
    // The command in the message is for the user to run, not expanded here.
    '    # shellcheck disable=SC2016',
    `    [ -s "$bundle" ] || { echo ${word(expand('$bundle'), ` is missing on the machine; copy it again: pulumi up --replace "$(pulumi stack --show-urns | grep -o 'urn:[^ ]*raibid-gitea-bundle')"`)} >&2; exit 1; }`,
    `    head=$(git bundle list-heads "$bundle" | awk -v c=${sh(commit)} '$1 == c {print $2; exit}')`,
    `    [ -n "$head" ] || { echo ${word(expand('$bundle'), ` has no head at the bootstrap commit ${commit}`)} >&2; exit 1; }`,
    '    git init --quiet --bare "$work/repo.git"',
    '    git -C "$work/repo.git" fetch --quiet "$bundle" "$head"',
    `    git -c credential.helper= -C "$work/repo.git" push --quiet "$url" ${sh(`${commit}:refs/heads/${branch}`)}`,
    `    echo ${sh(`pushed ${branch} (${commit.slice(0, 12)}) to ${org}/${repo}`)} ;;`,
    `  *) echo "git ls-remote of $url failed (exit $rc):" >&2; cat "$work/ls-remote.err" >&2; exit 1 ;;`,
    'esac',
    'rm -f "$bundle"',
  );
}
