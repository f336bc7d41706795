/**
 * The `configure` init container of the Gitea pod: migrates the database schema, then creates the admin
 * user if it does not exist, idempotently.
 *
 * Why an init container: it runs the same image, with the same `GITEA__*` environment and the same
 * app.ini emptyDir (the image's entrypoint renders app.ini before it runs the script), so the CLI sees
 * exactly the configuration the server will use; and Gitea's web process starts only after the schema is
 * current and the admin exists. No sidecar stays behind and no Job races the server for the database.
 *
 * The admin's password never passes through here. `gitea admin user create` and `change-password` take a
 * password only as `--password <value>` (no file or stdin option as of Gitea 1.27; go-gitea/gitea#36996
 * proposes one), which would put it into the argv of a process on the node. So the admin is created with
 * `--random-password` (the CLI prints it; the output is discarded, the value is never used) and the
 * password is never changed here. The bootstrap's admin-password step (src/bootstrap/rotation-scripts.ts)
 * sets the `gitea-admin` Secret's password through Gitea's API, with the request body in a file, right
 * after Gitea first serves and again whenever the Secret's password changes. The init container therefore
 * mounts only the Secret's `username` key: no password file exists in the pod.
 */
import { GITEA_CONFIG_DIR } from './gitea-settings.js';

/** Where the gitea-admin Secret's `username` key is mounted in the init container. */
export const GITEA_ADMIN_SECRET_DIR = '/etc/gitea-admin';

/** Length of the throwaway password the admin is created with (replaced through the API by bootstrap). */
export const GITEA_ADMIN_RANDOM_PASSWORD_LENGTH = 32;

/**
 * The script. Environment: GITEA_ADMIN_EMAIL (from raibid.yaml); GITEA_ADMIN_DIR overrides the Secret
 * mount (tests). Runs with `sh`; `gitea` comes from PATH.
 */
export function adminScript(): string {
  return [
    'set -eu',
    `dir="\${GITEA_ADMIN_DIR:-${GITEA_ADMIN_SECRET_DIR}}"`,
    'user="$(cat "$dir/username")"',
    'if [ -z "$user" ]; then echo "configure: the gitea-admin Secret needs a non-empty username key" >&2; exit 1; fi',
    `echo "configure: migrating the database schema (app.ini in ${GITEA_CONFIG_DIR})"`,
    'gitea migrate',
    `if gitea admin user list --admin | awk -v u="$user" '$2 == u { found = 1 } END { exit (found ? 0 : 1) }'; then`,
    '  echo "configure: admin $user exists"',
    'else',
    '  echo "configure: creating admin $user (its password is set by bootstrap through the API)"',
    // The CLI prints the random password: discarded, so it reaches no log.
    `  gitea admin user create --admin --username "$user" --email "$GITEA_ADMIN_EMAIL" --random-password --random-password-length ${GITEA_ADMIN_RANDOM_PASSWORD_LENGTH} --must-change-password=false > /dev/null`,
    'fi',
    '',
  ].join('\n');
}
