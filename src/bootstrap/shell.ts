/**
 * Small POSIX sh building blocks for the remote commands. Scripts never carry a secret: credentials are
 * read on the machine (from the cluster) or arrive on stdin.
 */

/** Single-quotes a value for sh: `it's` → `'it'"'"'s'`. */
export function sh(value: string | number): string {
  return `'${String(value).replace(/'/g, `'"'"'`)}'`;
}

/** Joins script lines, starting with strict mode. */
export function script(...lines: readonly string[]): string {
  return ['set -eu', ...lines].join('\n') + '\n';
}

/** Installs "$tmp" as the root-owned file, then restarts k3s when asked and it runs. */
function installLines(path: string, mode: string, restartK3s: boolean): string[] {
  return [
    `sudo install -D -m ${mode} -o root -g root "$tmp" ${sh(path)}`,
    `echo ${sh(`wrote ${path}`)}`,
    ...(restartK3s
      ? [
          'if systemctl is-active --quiet k3s; then',
          '  sudo systemctl restart k3s',
          // Later steps talk to the API server: wait until it answers again.
          '  for i in $(seq 1 60); do sudo k3s kubectl get --raw /readyz > /dev/null 2>&1 && break; sleep 5; done',
          '  echo restarted k3s',
          'fi',
        ]
      : []),
  ];
}

/** Reads stdin into "$tmp" (mktemp creates it 0600). */
const STDIN_TO_TMP = ['tmp=$(mktemp)', `trap 'rm -f "$tmp"' EXIT`, 'cat > "$tmp"'];

/**
 * Installs stdin as a root-owned file when its content differs, and restarts k3s when it runs and the
 * file changed (so k3s restarts exactly when one of its files changes, never on a no-op re-run).
 * The content goes from stdin to a 0600 temporary file to the target; it is never printed.
 */
export function writeFileScript(path: string, mode: string, restartK3s: boolean): string {
  return script(
    ...STDIN_TO_TMP,
    `if sudo test -f ${sh(path)} && sudo cmp -s "$tmp" ${sh(path)}; then echo ${sh(`${path} unchanged`)}; exit 0; fi`,
    ...installLines(path, mode, restartK3s),
  );
}

/**
 * Installs stdin as a root-owned file only when there is none yet: a first version that a later step
 * (`owner`) keeps up to date. A re-run never overwrites that step's version.
 */
export function seedFileScript(path: string, mode: string, restartK3s: boolean, owner: string): string {
  return script(
    ...STDIN_TO_TMP,
    `if sudo test -e ${sh(path)}; then echo ${sh(`${path} exists; kept (${owner} keeps it up to date)`)}; exit 0; fi`,
    ...installLines(path, mode, restartK3s),
  );
}

/** Removes a file on `pulumi destroy`; never fails (the k3s uninstall may have removed it already). */
export function removeFileScript(path: string): string {
  return `sudo rm -f ${sh(path)} || true\n`;
}
