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
 * Secret and restarting the pod rotates the password (bootstrap logs in with it).
 *
 * Known exposure: the password is a command-line argument. `gitea admin user create` and
 * `change-password` take it only as `--password <value>` (no file or stdin option as of Gitea 1.27; a
 * `--password-file` is proposed upstream in go-gitea/gitea#36996), so the shell expands
 * `"$(cat "$dir/password")"` into the argv of that one `gitea` process. Precisely:
 * - When: while that single command runs (it loads app.ini, connects to PostgreSQL, hashes and stores
 *   the password: typically a second or two), once per start of the Gitea pod. `gitea migrate`, the
 *   user listing and the `sh` script itself never hold it: the script text contains `$(cat …)`, not the
 *   value, and `cat`'s argv holds only the path.
 * - Who can read it: `/proc/<pid>/cmdline` of that process. Inside the pod, nobody else: the init
 *   container runs alone (before the app container starts) and the pod does not share its process
 *   namespace. On the node, anything that sees the host's PID namespace — root, any local user when
 *   /proc is mounted without `hidepid`, a pod with `hostPID` (Pod Security baseline and restricted
 *   forbid it; only namespaces enforcing privileged, such as kube-system or the BuildKit namespace,
 *   admit one) — can read it during that window.
 * - Where it never goes: the manifest, the environment, logs (the CLI does not print it), or a file on
 *   the data volume.
 * Switch to a file option as soon as the pinned Gitea has one.
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
