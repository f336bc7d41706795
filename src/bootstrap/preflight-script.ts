/**
 * The preflight as a POSIX sh script, generated from raibid.yaml: it gathers the machine's facts
 * (architecture, cores, memory, disk where volumes go, OS, tools, sudo, listening ports) and fails with
 * one line per shortfall when the machine is below what the config declares. The script is split in a
 * gathering and a checking half so tests run the checks against made-up machines.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { bytes } from '../config/quantity.js';
import { LOCAL_STORAGE_PATH, serviceLbPorts } from './k3s-config.js';
import { script, sh } from './shell.js';
import { MEMORY_TOLERANCE, plannedNodeMemory } from '../capacity/allocatable.js';


/** The k3s binary; present once the K3s step has run. */
export const K3S_BINARY = '/usr/local/bin/k3s';

/** Oldest Ubuntu release k3s and the rest of the stack are run on. */
export const MIN_UBUNTU_MAJOR = 22;

/** Tools the later steps run on the machine. */
export const REQUIRED_COMMANDS = ['curl', 'git', 'systemctl', 'sudo', 'base64'] as const;

const UNAME_ARCH: Readonly<Record<RaibidConfig['node']['arch'], string>> = { arm64: 'aarch64', amd64: 'x86_64' };

/** What the machine must offer, derived from the config. */
export interface PreflightRequirements {
  /** `uname -m` of node.arch. */
  readonly unameArch: string;
  readonly cores: number;
  /** Least MemTotal accepted, in KiB. */
  readonly memoryKiB: number;
  /** KiB needed where volumes go: free before k3s is installed, used + free afterwards. */
  readonly diskKiB: number;
  /** Ports nothing on the machine may listen on (k3s ServiceLB forwards them). */
  readonly serviceLbPorts: readonly { readonly port: number; readonly use: string }[];
  /** LAN address that must be on an interface (cluster.nodeAddress), if set. */
  readonly nodeAddress?: string;
}

export function preflightRequirements(c: RaibidConfig): PreflightRequirements {
  return {
    unameArch: UNAME_ARCH[c.node.arch],
    cores: c.node.cpu,
    // The capacity plan budgets exactly this much (plannedNodeMemory): one number for both.
    memoryKiB: Math.floor(plannedNodeMemory(c) / 1024),
    diskKiB: Math.ceil(bytes(c.node.disk) / 1024),
    serviceLbPorts: serviceLbPorts(c),
    ...(c.cluster.nodeAddress ? { nodeAddress: c.cluster.nodeAddress } : {}),
  };
}

/**
 * Sets the facts as shell variables: arch, cores, mem_kib, disk_path, disk_kib (free), disk_used_kib,
 * k3s_installed, os_id, os_like, os_version, missing, sudo_ok, has_address, listening (the TCP ports
 * something listens on, space-separated, or `unknown` without `ss`). Prints nothing.
 */
export function gatherScript(c: RaibidConfig): string {
  const req = preflightRequirements(c);
  return [
    'arch=$(uname -m)',
    'cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)',
    "mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)",
    // Volumes go below LOCAL_STORAGE_PATH; before the first install only a parent exists.
    `disk_path=${sh(LOCAL_STORAGE_PATH)}`,
    'while [ ! -d "$disk_path" ]; do disk_path=$(dirname "$disk_path"); done',
    `disk_kib=$(df -Pk "$disk_path" | awk 'NR==2 {print $4}')`,
    `disk_used_kib=$(df -Pk "$disk_path" | awk 'NR==2 {print $3}')`,
    `if [ -e ${sh(K3S_BINARY)} ]; then k3s_installed=yes; else k3s_installed=no; fi`,
    `os_id=$( (. /etc/os-release && echo "\${ID:-}") 2>/dev/null || true)`,
    `os_like=$( (. /etc/os-release && echo "\${ID_LIKE:-}") 2>/dev/null || true)`,
    `os_version=$( (. /etc/os-release && echo "\${VERSION_ID:-}") 2>/dev/null || true)`,
    'missing=',
    `for tool in ${REQUIRED_COMMANDS.join(' ')}; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done`,
    'if sudo -n true 2>/dev/null; then sudo_ok=yes; else sudo_ok=no; fi',
    req.nodeAddress
      ? `if ip -o -4 addr show 2>/dev/null | grep -q ${sh(` ${req.nodeAddress}/`)}; then has_address=yes; else has_address=no; fi`
      : 'has_address=unchecked',
    // The local port is what follows the last colon of the address (IPv6 addresses contain colons).
    `if command -v ss > /dev/null 2>&1; then listening=$(ss -ltn | awk 'NR > 1 {n = split($4, a, ":"); print a[n]}' | sort -un | tr '\\n' ' '); else listening=unknown; fi`,
  ].join('\n');
}

/**
 * Checks the facts gathered above against the config. On success prints `key=value` lines (see
 * parseFacts); otherwise prints every problem to stderr and exits 1.
 */
export function checkScript(c: RaibidConfig, host: string): string {
  const req = preflightRequirements(c);
  const n = c.node;
  const gib = (kib: string) => `$(awk -v k="${kib}" 'BEGIN {printf "%.1fGi", k/1048576}')`;
  // Rounded down, so the suggested node.memory passes this check.
  // The largest node.memory whose planned share (1 − MEMORY_TOLERANCE) fits in MemTotal, rounded down
  // to a tenth of a GiB so that it passes.
  const suggestMemory = (kib: string) => `$(awk -v k="${kib}" 'BEGIN {printf "%.1fGi", int(k * 10 / 1048576 / ${1 - MEMORY_TOLERANCE}) / 10}')`;
  const pct = Math.round(MEMORY_TOLERANCE * 100);
  return [
    'problems=',
    // The newline inside the quotes separates the lines of the report.
    'problem() { problems="${problems}  - $1',
    '"; }',
    `[ "$arch" = ${sh(req.unameArch)} ] || problem "node.arch: raibid.yaml declares ${n.arch} (${req.unameArch}), the machine is $arch; set node.arch to match"`,
    `[ "\${cores:-0}" -ge ${req.cores} ] 2>/dev/null || problem "node.cpu: raibid.yaml declares ${n.cpu} cores, the machine has \${cores:-unknown}; lower node.cpu"`,
    `[ "\${mem_kib:-0}" -ge ${req.memoryKiB} ] 2>/dev/null || problem "node.memory: raibid.yaml declares ${n.memory}, but the machine reports MemTotal ${gib('${mem_kib:-0}')}; the capacity plan budgets node.memory less ${pct}% (firmware and kernel reservations), which must fit in MemTotal; set node.memory to ${suggestMemory('${mem_kib:-0}')}"`,
    // Before k3s runs, the volumes still need their room. Afterwards they occupy part of it (and the
    // machine is in use): the filesystem must still be able to hold node.disk, used and free together.
    'if [ "$k3s_installed" = yes ]; then',
    `  disk_total_kib=$(awk -v u="\${disk_used_kib:-0}" -v f="\${disk_kib:-0}" 'BEGIN {printf "%.0f", u + f}')`,
    `  [ "$disk_total_kib" -ge ${req.diskKiB} ] 2>/dev/null || problem "node.disk: raibid.yaml declares ${n.disk} for volumes, $disk_path has ${gib('${disk_used_kib:-0}')} used + ${gib('${disk_kib:-0}')} free; lower node.disk or grow the filesystem"`,
    'else',
    `  [ "\${disk_kib:-0}" -ge ${req.diskKiB} ] 2>/dev/null || problem "node.disk: raibid.yaml declares ${n.disk} for volumes, $disk_path has ${gib('${disk_kib:-0}')} free; lower node.disk or free up space"`,
    'fi',
    ...req.serviceLbPorts.map(
      (p) =>
        `case " $listening " in *' ${p.port} '*) problem ${sh(`port ${p.port}: something on the machine listens on it (sudo ss -ltnp 'sport = :${p.port}'), but k3s ServiceLB forwards it to ${p.use}, which would hide that service; stop it or move it to another port`)} ;; esac`,
    ),
    `case " $os_id $os_like " in`,
    `  *' ubuntu '*) [ "\${os_version%%.*}" -ge ${MIN_UBUNTU_MAJOR} ] 2>/dev/null || problem "OS: Ubuntu ${MIN_UBUNTU_MAJOR}.04 or newer expected, found Ubuntu \${os_version:-of unknown version}" ;;`,
    `  *) problem "OS: Ubuntu ${MIN_UBUNTU_MAJOR}.04 or newer expected, found \${os_id:-an unknown OS} \${os_version}" ;;`,
    'esac',
    '[ -z "$missing" ] || problem "tools missing:$missing; install them (sudo apt-get install -y curl git)"',
    `[ "$sudo_ok" = yes ] || problem "sudo: $(id -un) needs passwordless sudo (a line \\"$(id -un) ALL=(ALL) NOPASSWD:ALL\\" in /etc/sudoers.d/)"`,
    ...(req.nodeAddress ? [`[ "$has_address" = yes ] || problem "cluster.nodeAddress: ${req.nodeAddress} is not an address of this machine; fix cluster.nodeAddress"`] : []),
    `if [ -n "$problems" ]; then printf '%s\\n%s' ${sh(`raibid-ci preflight failed on ${host}: the machine does not match raibid.yaml`)} "$problems" >&2; exit 1; fi`,
    `printf 'arch=%s\\ncores=%s\\nmemory_kib=%s\\ndisk_path=%s\\ndisk_kib=%s\\nos=%s %s\\n' "$arch" "$cores" "$mem_kib" "$disk_path" "$disk_kib" "$os_id" "$os_version"`,
  ].join('\n');
}

/** The whole preflight, run on the machine with `sh -s` (the script arrives on stdin). */
export function preflightScript(c: RaibidConfig, host: string): string {
  return script(gatherScript(c), checkScript(c, host));
}

/** The machine's facts from the preflight's output. */
export function parseFacts(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
