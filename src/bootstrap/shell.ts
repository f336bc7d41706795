/**
 * Small POSIX sh building blocks for the remote commands. Scripts never carry a secret: credentials are
 * read on the machine (from the cluster) or arrive on stdin.
 *
 * sshd runs a command with the SSH user's login shell (`$SHELL -c <command>`), which may be zsh (no word
 * splitting of unquoted expansions) or fish (no `set -eu`). Every remote command therefore goes through
 * `remoteCommand()`, which hands the script to `sh -c` as one quoted word: the login shell only starts
 * sh, and stdin still reaches the script.
 */

/** Single-quotes a value for sh: `it's` → `'it'"'"'s'`. */
export function sh(value: string | number): string {
  return `'${String(value).replace(/'/g, `'"'"'`)}'`;
}

/** A shell expansion (`$var`, `$(command)`) kept live inside a word built by `word()`. */
export interface Expansion {
  readonly expand: string;
}

/** Marks shell code to be expanded (inside double quotes) rather than quoted away. */
export function expand(code: string): Expansion {
  return { expand: code };
}

/**
 * One sh word from literal parts and expansions: every literal (config values included) goes through
 * `sh()`, every expansion into double quotes; sh concatenates adjacent quoted strings. The one way a
 * script builds a message or a path that mixes both, so no configured value is ever parsed by the shell.
 */
export function word(...parts: readonly (string | number | Expansion)[]): string {
  return parts.map((p) => (typeof p === 'object' ? `"${p.expand}"` : sh(p))).join('');
}

/**
 * Quotes a value as one word for sh, bash, zsh and fish alike: single quotes, with `'` and `\` (which
 * fish treats as escapes inside single quotes) written inside double quotes, where every one of these
 * shells reads `"'"` as `'` and `"\\"` as `\`.
 */
export function anyShellWord(value: string): string {
  return `'${value.replace(/'/g, `'"'"'`).replace(/\\/g, `'"\\\\"'`)}'`;
}

/** `sh -c <script>`: what the login shell is given for every remote create/update/delete. */
export function inSh(body: string): string {
  return `sh -c ${anyShellWord(body)}`;
}

/** Joins script lines, starting with strict mode. */
export function script(...lines: readonly string[]): string {
  return ['set -eu', ...lines].join('\n') + '\n';
}

/** Seconds the API server gets to answer /readyz after a (re)start. */
export const API_READY_TIMEOUT_SECONDS = 300;

/**
 * Waits until the API server answers /readyz, and fails (with what to look at) when it still does not
 * after API_READY_TIMEOUT_SECONDS: later steps talk to it.
 */
export function waitForApiServer(indent = ''): string[] {
  return [
    `ready=no; for _ in $(seq 1 ${API_READY_TIMEOUT_SECONDS / 5}); do if sudo k3s kubectl get --raw /readyz > /dev/null 2>&1; then ready=yes; break; fi; sleep 5; done`,
    `[ "$ready" = yes ] || { echo ${sh(`the k3s API server did not answer /readyz within ${API_READY_TIMEOUT_SECONDS} s; look at: sudo journalctl -u k3s`)} >&2; exit 1; }`,
  ].map((l) => indent + l);
}

/**
 * Marks a k3s restart as owed: written before a k3s file changes, removed once k3s has restarted (or
 * when it does not run, as its next start reads the files). A restart that fails — or a dropped
 * connection — leaves the mark, so the re-run, which finds the file already up to date, still restarts.
 */
export const K3S_RESTART_PENDING = '/var/lib/raibid/k3s-restart-pending';

/** Restarts k3s when it runs and waits for its API server; then clears the pending mark. */
function restartLines(): string[] {
  return [
    'if systemctl is-active --quiet k3s; then',
    '  sudo systemctl restart k3s',
    // Later steps talk to the API server: wait until it answers again.
    ...waitForApiServer('  '),
    '  echo restarted k3s',
    'fi',
    `sudo rm -f ${sh(K3S_RESTART_PENDING)}`,
  ];
}

/** Installs "$tmp" as the root-owned file, then restarts k3s when asked and it runs. */
function installLines(path: string, mode: string, restartK3s: boolean): string[] {
  return [
    ...(restartK3s ? [`sudo install -D -m 600 -o root -g root /dev/null ${sh(K3S_RESTART_PENDING)}`] : []),
    `sudo install -D -m ${mode} -o root -g root "$tmp" ${sh(path)}`,
    `echo ${sh(`wrote ${path}`)}`,
    ...(restartK3s ? restartLines() : []),
  ];
}

/** When the file is already up to date: finish a restart an earlier run owed, else stop here. */
function unchangedLines(path: string, restartK3s: boolean): string[] {
  const done = `echo ${sh(`${path} unchanged`)}; exit 0`;
  if (!restartK3s) return [done];
  return [`if ! sudo test -e ${sh(K3S_RESTART_PENDING)}; then ${done}; fi`, `echo ${sh(`${path} unchanged, but an earlier run did not finish restarting k3s`)}`, ...restartLines(), 'exit 0'];
}

/** Reads stdin into "$tmp" (mktemp creates it 0600). */
const STDIN_TO_TMP = ['tmp=$(mktemp)', `trap 'rm -f "$tmp"' EXIT`, 'cat > "$tmp"'];

/**
 * Installs stdin as a root-owned file when its content differs, and restarts k3s when it runs and the
 * file changed (so k3s restarts exactly when one of its files changes, never on a no-op re-run — unless
 * an earlier run changed the file but did not get k3s restarted: K3S_RESTART_PENDING).
 * The content goes from stdin to a 0600 temporary file to the target; it is never printed.
 */
export function writeFileScript(path: string, mode: string, restartK3s: boolean): string {
  return script(
    ...STDIN_TO_TMP,
    `if sudo test -f ${sh(path)} && sudo cmp -s "$tmp" ${sh(path)}; then`,
    ...unchangedLines(path, restartK3s).map((l) => `  ${l}`),
    'fi',
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
