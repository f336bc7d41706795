/**
 * Steps 2 and 3: k3s at a pinned version, configured through files the program owns.
 *
 *   config      /etc/rancher/k3s/config.yaml (traefik off, kubeconfig mode, reservations, labels)
 *   registries  /etc/rancher/k3s/registries.yaml (Gitea registry, Docker Hub mirror), the first version:
 *               written only when the machine has none; the RegistryAuth step, which adds the
 *               credentials Gitea issues later, keeps it up to date from then on
 *   hosts       gitea.<domain> in /etc/hosts, so containerd on the node resolves the registry
 *   userns      /etc/sysctl.d/99-raibid-userns.conf, when buildkit.enabled and the kernel has Ubuntu's
 *               AppArmor restriction on unprivileged user namespaces (on by default from 24.04):
 *               rootless BuildKit (rootlesskit) creates a user namespace and fails without it
 *   install     the k3s install script of K3S_VERSION; re-runs only when the version changes
 *
 * The files are written before the first start; later changes restart k3s, and only when a file's
 * content actually changed.
 *
 * Replacement (`pulumi up --replace`, or the hosts step's trigger): a file step deletes before it
 * creates (`deleteBeforeReplace`), since the other order would run the old `delete` last and remove the
 * file just written. The install is protected (`protect`): replacing it would mean uninstalling k3s,
 * which removes /etc/rancher/k3s and its files with it, while nothing would write config.yaml again.
 * `pulumi destroy` therefore starts with `pulumi state unprotect` of the install (docs/bootstrap.md).
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { RaibidConfig } from '../config/resolve.js';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import { K3S_CONFIG_PATH, K3S_REGISTRIES_PATH, k3sConfigYaml, registriesYaml } from './k3s-config.js';
import { K3S_INSTALL_SCRIPT_URL, K3S_VERSION } from './versions.js';
import { expand, removeFileScript, script, seedFileScript, sh, waitForApiServer, word, writeFileScript } from './shell.js';

export interface K3sArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** Stack host (TLS SAN of the API server). */
  readonly host: string;
  /** Resources that must succeed first (the preflight). */
  readonly after: readonly pulumi.Resource[];
}

const HOSTS_BEGIN = '# raibid-ci begin';
const HOSTS_END = '# raibid-ci end';

/** Adds (or refreshes) `<LAN address> gitea.<domain>` in /etc/hosts between marker lines. */
export function hostsScript(c: RaibidConfig): string {
  const detect = c.cluster.nodeAddress
    ? `ip=${sh(c.cluster.nodeAddress)}`
    : `ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") {print $(i + 1); exit}}')`;
  return script(
    detect,
    `[ -n "$ip" ] || { echo ${sh('cannot tell the LAN address of this machine; set cluster.nodeAddress in raibid.yaml')} >&2; exit 1; }`,
    'tmp=$(mktemp)',
    `trap 'rm -f "$tmp"' EXIT`,
    `sed ${sh(`/^${HOSTS_BEGIN}$/,/^${HOSTS_END}$/d`)} /etc/hosts > "$tmp"`,
    `printf '%s\\n%s %s\\n%s\\n' ${sh(HOSTS_BEGIN)} "$ip" ${sh(c.registryHost)} ${sh(HOSTS_END)} >> "$tmp"`,
    // Only tee needs root: the temporary file it reads is the SSH user's own.
    '# shellcheck disable=SC2024',
    `if cmp -s "$tmp" /etc/hosts; then echo ${sh('/etc/hosts unchanged')}; else sudo tee /etc/hosts < "$tmp" > /dev/null; echo ${word('/etc/hosts: ', expand('$ip'), ` ${c.registryHost}`)}; fi`,
  );
}

/** Removes the marked block from /etc/hosts; never fails. */
export function removeHostsScript(): string {
  return `sudo sed -i ${sh(`/^${HOSTS_BEGIN}$/,/^${HOSTS_END}$/d`)} /etc/hosts || true\n`;
}

/** Seconds a first install waits for the node to register once the API server answers. */
export const NODE_REGISTER_TIMEOUT_SECONDS = 120;

/** Installs K3S_VERSION unless it is already installed, then waits for the node to be Ready. */
export function installScript(): string {
  const pinnedMinor = Number(/^v1\.(\d+)\./.exec(K3S_VERSION)?.[1]);
  if (!Number.isInteger(pinnedMinor)) throw new Error(`K3S_VERSION ${K3S_VERSION} is not v1.<minor>.<patch>+k3s<n>`);
  return script(
    // Kubernetes upgrades one minor at a time and never goes back: refuse a pin older than what runs.
    'if command -v k3s > /dev/null 2>&1; then',
    `  installed=$(k3s --version | awk 'NR == 1 { print $3 }')`,
    String.raw`  minor=$(printf '%s\n' "$installed" | sed -n 's/^v1\.\([0-9][0-9]*\)\..*/\1/p')`,
    `  if [ -n "$minor" ] && [ "$minor" -gt ${pinnedMinor} ]; then`,
    `    echo ${word(`k3s `, expand('$installed'), ` runs on this machine, a newer minor than the pinned ${K3S_VERSION} (src/bootstrap/versions.ts): Kubernetes cannot go back a minor version; pin a k3s of that minor or newer, or remove k3s first (sudo /usr/local/bin/k3s-uninstall.sh deletes the cluster)`)} >&2`,
    '    exit 1',
    '  fi',
    'fi',
    `if command -v k3s > /dev/null 2>&1 && k3s --version | grep -qF ${sh(K3S_VERSION)}; then`,
    `  echo ${sh(`k3s ${K3S_VERSION} already installed`)}`,
    'else',
    '  tmp=$(mktemp)',
    `  trap 'rm -f "$tmp"' EXIT`,
    `  curl -fsSL --retry 3 ${sh(K3S_INSTALL_SCRIPT_URL)} -o "$tmp"`,
    // The config comes from /etc/rancher/k3s/config.yaml; nothing is passed as flags, so a later re-run
    // of the script cannot drop a setting.
    `  sudo env INSTALL_K3S_VERSION=${sh(K3S_VERSION)} INSTALL_K3S_EXEC=server sh "$tmp"`,
    'fi',
    ...waitForApiServer(),
    // On a first install the API server is ready before the node has registered, and `kubectl wait
    // node --all` fails with "no matching resources": wait for the node object first.
    `for _ in $(seq 1 ${NODE_REGISTER_TIMEOUT_SECONDS / 5}); do [ -n "$(sudo k3s kubectl get nodes -o name 2> /dev/null)" ] && break; sleep 5; done`,
    `[ -n "$(sudo k3s kubectl get nodes -o name 2> /dev/null)" ] || { echo ${sh(`no node registered with k3s within ${NODE_REGISTER_TIMEOUT_SECONDS} s; look at: sudo journalctl -u k3s`)} >&2; exit 1; }`,
    'sudo k3s kubectl wait --for=condition=Ready node --all --timeout=300s',
  );
}

/** Runs on `pulumi destroy`. The uninstaller deletes k3s's data dir, not the volumes (LOCAL_STORAGE_PATH). */
export function uninstallScript(): string {
  return 'if [ -x /usr/local/bin/k3s-uninstall.sh ]; then sudo /usr/local/bin/k3s-uninstall.sh; fi\n';
}

/** The sysctl that, at 1, lets AppArmor deny unprivileged user namespaces (Ubuntu ≥ 24.04 sets it). */
export const USERNS_SYSCTL = 'kernel.apparmor_restrict_unprivileged_userns';
/** The drop-in that sets it to 0. */
export const USERNS_SYSCTL_PATH = '/etc/sysctl.d/99-raibid-userns.conf';

/** Content of USERNS_SYSCTL_PATH. */
export function usernsSysctlConf(): string {
  return [
    '# written by the raibid-ci bootstrap (pulumi up): rootless BuildKit creates unprivileged user namespaces',
    `${USERNS_SYSCTL} = 0`,
    '',
  ].join('\n');
}

/**
 * Lifts the restriction on unprivileged user namespaces where the kernel has it: writes the drop-in
 * (when it differs) and applies it now, so BuildKit works before the next reboot too. A kernel without
 * the sysctl (Ubuntu 22.04) restricts nothing: the script then changes nothing.
 */
export function usernsScript(path: string = USERNS_SYSCTL_PATH): string {
  return script(
    `if ! sysctl -n ${USERNS_SYSCTL} > /dev/null 2>&1; then echo ${sh(`${USERNS_SYSCTL} does not exist on this kernel; unprivileged user namespaces are not restricted`)}; exit 0; fi`,
    'tmp=$(mktemp)',
    `trap 'rm -f "$tmp"' EXIT`,
    `printf '%s' ${sh(usernsSysctlConf())} > "$tmp"`,
    `if sudo test -f ${sh(path)} && sudo cmp -s "$tmp" ${sh(path)}; then echo ${sh(`${path} unchanged`)}; else sudo install -D -m 0644 -o root -g root "$tmp" ${sh(path)}; echo ${sh(`wrote ${path}`)}; fi`,
    `sudo sysctl -q -p ${sh(path)}`,
    `echo "${USERNS_SYSCTL} = $(sysctl -n ${USERNS_SYSCTL})"`,
  );
}

export class K3s extends pulumi.ComponentResource {
  readonly configFile: command.remote.Command;
  readonly registriesFile: command.remote.Command;
  readonly hosts: command.remote.Command;
  /** The user-namespace sysctl; only when buildkit.enabled. */
  readonly userns?: command.remote.Command;
  readonly install: command.remote.Command;

  constructor(name: string, args: K3sArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:K3s', name, {}, opts);
    const { connection, config } = args;
    // A file step removes its file before writing it again when replaced (see the file comment).
    const after = { parent: this, dependsOn: [...args.after], deleteBeforeReplace: true };

    this.configFile = remoteCommand(
      `${name}-config`,
      { connection, create: writeFileScript(K3S_CONFIG_PATH, '0600', true), stdin: k3sConfigYaml(config, { host: args.host }), delete: removeFileScript(K3S_CONFIG_PATH) },
      after,
    );
    this.registriesFile = remoteCommand(
      `${name}-registries`,
      // Seed only: overwriting the RegistryAuth version would drop the registry login (and restart k3s twice).
      { connection, create: seedFileScript(K3S_REGISTRIES_PATH, '0600', true, 'the RegistryAuth step'), stdin: registriesYaml(config), delete: removeFileScript(K3S_REGISTRIES_PATH) },
      after,
    );
    // The script finds the LAN address on the machine; a new stack host (the machine moved) runs it again.
    this.hosts = remoteCommand(`${name}-hosts`, { connection, create: hostsScript(config), delete: removeHostsScript(), triggers: [args.host] }, after);
    if (config.buildkit.enabled) {
      // On destroy the file goes; the running kernel keeps the value until the next reboot.
      this.userns = remoteCommand(`${name}-userns`, { connection, create: usernsScript(), delete: removeFileScript(USERNS_SYSCTL_PATH) }, after);
    }
    this.install = remoteCommand(
      `${name}-install`,
      // No `triggers`: a trigger change replaces the resource, and replacing means uninstalling. A new
      // K3S_VERSION changes the script instead, which re-runs it in place: an upgrade keeping all data.
      // Protected, so no replacement can uninstall k3s (see the file comment).
      { connection, create: installScript(), delete: uninstallScript() },
      { parent: this, dependsOn: [this.configFile, this.registriesFile, this.hosts, ...(this.userns ? [this.userns] : [])], customTimeouts: { create: '20m', delete: '10m' }, protect: true },
    );
    this.registerOutputs({ version: K3S_VERSION });
  }
}
