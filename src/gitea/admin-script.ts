/**
 * The `configure` init container of the Gitea pod: migrates the database schema, then creates the admin
 * user from the `gitea-admin` Secret, idempotently.
 *
 * Why an init container: it runs the same image, with the same `GITEA__*` environment and the same
 * app.ini emptyDir (the image's entrypoint renders app.ini before it runs the script), so the CLI sees
 * exactly the configuration the server will use; and Gitea's web process starts only after the schema is
 * current and the admin exists. No sidecar stays behind and no Job races the server for the database.
 *
 * Idempotent: `gitea admin user list --admin` decides between `create` and `change-password`. The Secret
 * is the source of truth: an existing admin's password is set from it at every start, so rotating the
 * Secret and restarting the pod rotates the password (bootstrap logs in with it). The password reaches
 * the CLI as an argument (the Gitea CLI has no file option); it exists only inside this short-lived
 * container's process table, never in the manifest, the environment or a file on the data volume.
 */
import { GITEA_CONFIG_DIR } from './gitea-settings.js';

/** Where the gitea-admin Secret (keys `username`, `password`) is mounted in the init container. */
export const GITEA_ADMIN_SECRET_DIR = '/etc/gitea-admin';

/**
 * The script. Environment: GITEA_ADMIN_EMAIL (from raibid.yaml); GITEA_ADMIN_DIR overrides the Secret
 * mount (tests). Runs with `sh`; `gitea` comes from PATH.
 */
export function adminScript(): string {
  return [
    'set -eu',
    `dir="\${GITEA_ADMIN_DIR:-${GITEA_ADMIN_SECRET_DIR}}"`,
    'user="$(cat "$dir/username")"',
    'if [ -z "$user" ] || [ ! -s "$dir/password" ]; then echo "configure: the gitea-admin Secret needs non-empty username and password keys" >&2; exit 1; fi',
    `echo "configure: migrating the database schema (app.ini in ${GITEA_CONFIG_DIR})"`,
    'gitea migrate',
    `if gitea admin user list --admin | awk -v u="$user" '$2 == u { found = 1 } END { exit (found ? 0 : 1) }'; then`,
    '  echo "configure: admin $user exists; setting its password from the Secret"',
    '  if gitea admin user change-password --help 2>&1 | grep -q -- --must-change-password; then',
    '    gitea admin user change-password --username "$user" --password "$(cat "$dir/password")" --must-change-password=false',
    '  else',
    '    gitea admin user change-password --username "$user" --password "$(cat "$dir/password")"',
    '  fi',
    'else',
    '  echo "configure: creating admin $user"',
    '  gitea admin user create --admin --username "$user" --email "$GITEA_ADMIN_EMAIL" --password "$(cat "$dir/password")" --must-change-password=false',
    'fi',
    '',
  ].join('\n');
}
