/**
 * Remote scripts for the bot user (`gitea.bot`): the non-admin Gitea user the agents and the API act as.
 * Both run as the admin (see giteaPrelude) and converge on every run: what exists is brought back to
 * the declared state, what is missing is created.
 *
 *   user  POST /api/v1/admin/users (or PATCH when it exists): never an admin, no password change
 *         required, the password from Pulumi's state, which arrives on stdin and goes to curl in a file;
 *         then PATCH: allowed to create organisations (the mirror organisations)
 *   team  POST /api/v1/orgs/{org}/teams (or PATCH when it exists): write access to the code and the
 *         packages of every repository of the organisation; then PUT /api/v1/teams/{id}/members/{bot}
 *
 * The GitOps branch stays out of the bot's reach through its branch protection (branchProtectionScript).
 * @see https://docs.gitea.com/api/1.25/
 */
import type { RaibidConfig } from '../config/resolve.js';
import { giteaPrelude } from './gitea-scripts.js';
import { script, sh } from './shell.js';

/** The organisation team the bot belongs to. */
export const BOT_TEAM = 'ci-bots';

/**
 * What the team may do in every repository of the organisation: clone and report commit statuses
 * (code, write) and push images (packages, write). Nothing else: no issues, pull requests or settings.
 */
export const BOT_TEAM_UNITS: Readonly<Record<string, 'read' | 'write'>> = { 'repo.code': 'write', 'repo.packages': 'write' };

/** Body of the team, for creating and for editing it. */
export function botTeamBody(): Record<string, unknown> {
  return {
    name: BOT_TEAM,
    description: 'raibid-ci bot users: clone, commit status, image push',
    permission: 'write',
    includes_all_repositories: true,
    can_create_org_repo: false,
    units: Object.keys(BOT_TEAM_UNITS),
    units_map: BOT_TEAM_UNITS,
    // Listable by its members and the organisation's owners only. Gitea checks the field with
    // In(public,limited,private) even when it is absent (a plain Go string): it must be sent.
    visibility: 'private',
  };
}

/**
 * Creates the bot user, or sets its password and settings when it exists (so the password in Pulumi's
 * state is always the one Gitea checks). Reads the password from stdin.
 */
export function botUserScript(c: RaibidConfig): string {
  const { username, email } = c.gitea.bot;
  const settings = { email, must_change_password: false };
  // `admin` exists on edits only (EditUserOption; a created user is no admin): set false there, so an
  // existing bot is demoted. The one user that may create organisations (gitea-settings.ts): the mirror
  // organisations, with the write:organization token only the mirror CronJob holds; also edits only.
  const edit = { login_name: username, source_id: 0, ...settings, admin: false, allow_create_organization: true };
  // The password is the only value that is not in the script; the body file starts with it. The
  // password is alphanumeric (@pulumi/random without specials); the sed escapes for JSON regardless.
  const body = (rest: Record<string, unknown>) => `printf '{"password":"%s",%s' "$password" ${sh(JSON.stringify(rest).slice(1))} > "$work/body"`;
  return script(
    giteaPrelude(c),
    'cat > "$work/botpass"',
    `[ -s "$work/botpass" ] || { echo ${sh(`no password for ${username} on stdin`)} >&2; exit 1; }`,
    `password=$(sed 's/[\\\\"]/\\\\&/g' "$work/botpass")`,
    `case "$(status GET ${sh(`/users/${username}`)})" in`,
    '  404)',
    `    ${body({ username, ...settings, send_notify: false })}`,
    `    send POST /admin/users "$work/body" > /dev/null`,
    `    ${body(edit)}`,
    `    send PATCH ${sh(`/admin/users/${username}`)} "$work/body" > /dev/null`,
    `    echo ${sh(`created user ${username}`)} ;;`,
    '  200)',
    `    ${body(edit)}`,
    `    send PATCH ${sh(`/admin/users/${username}`)} "$work/body" > /dev/null`,
    `    echo ${sh(`user ${username} exists; password and settings applied`)} ;;`,
    `  *) echo ${sh(`unexpected answer from Gitea for GET /users/${username}`)} >&2; exit 1 ;;`,
    'esac',
  );
}

/**
 * Creates the team (or applies its settings when it exists) and makes the bot a member. Membership is
 * idempotent in Gitea: adding a member twice is not an error.
 */
export function botTeamScript(c: RaibidConfig): string {
  const org = c.flux.organization;
  const bot = c.gitea.bot.username;
  const body = JSON.stringify(botTeamBody());
  // A team object is `{"id":N,"name":"<team>","description":…`; the organisation inside it has
  // `"name":"<org>","full_name"`, so the pattern cannot pick the organisation's id.
  const teamId = `sed -n 's/.*"id":\\([0-9][0-9]*\\),"name":"${BOT_TEAM}","description".*/\\1/p'`;
  return script(
    giteaPrelude(c),
    // Two steps, so a failing request stops the script (set -e) instead of vanishing in a pipe.
    `found=$(api GET ${sh(`/orgs/${org}/teams/search?q=${BOT_TEAM}`)})`,
    `id=$(printf '%s' "$found" | ${teamId})`,
    'if [ -n "$id" ]; then',
    `  api PATCH "/teams/$id" ${sh(body)} > /dev/null`,
    `  echo ${sh(`team ${BOT_TEAM} of ${org} exists; settings applied`)}`,
    'else',
    `  created=$(api POST ${sh(`/orgs/${org}/teams`)} ${sh(body)})`,
    `  id=$(printf '%s' "$created" | ${teamId})`,
    `  [ -n "$id" ] || { echo ${sh(`Gitea returned no id for the new team ${BOT_TEAM}`)} >&2; exit 1; }`,
    `  echo ${sh(`created team ${BOT_TEAM} of ${org}`)}`,
    'fi',
    `api PUT "/teams/$id/members/"${sh(bot)} > /dev/null`,
    `echo ${sh(`${bot} is a member of ${BOT_TEAM} (write access to the code and packages of ${org}'s repositories)`)}`,
  );
}
