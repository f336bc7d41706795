/**
 * The preflight as a POSIX sh script, generated from raibid.yaml: it gathers the machine's facts
 * (architecture, cores, memory, disk where volumes go, OS, tools, sudo, listening ports, Docker bridges,
 * swap, cgroup version, inotify limits, the registries the cluster pulls from) and fails with one line
 * per shortfall when the machine is below what the config declares or has something that breaks k3s.
 * The script is split in a gathering and a checking half so tests run the checks against made-up
 * machines. Every configured value reaches the script through `sh()`/`word()`.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { bytes } from '../config/quantity.js';
import { LOCAL_STORAGE_PATH, serviceLbPorts } from './k3s-config.js';
import { expand, script, sh, word } from './shell.js';
import { MEMORY_TOLERANCE, plannedNodeMemory } from '../capacity/allocatable.js';
import { FLUX_REGISTRY, K3S_INSTALL_SCRIPT_URL } from './versions.js';
import { KEDA_CHART_REPOSITORY } from '../keda/keda.js';

/**
 * Least inotify limits: k3s, containerd and every pod's file watchers share the per-user instance limit
 * (Ubuntu's default, 128, runs out with a few dozen pods: "too many open files").
 * @see https://kind.sigs.k8s.io/docs/user/known-issues/#pod-errors-due-to-too-many-open-files
 */
export const INOTIFY_MIN = { 'fs.inotify.max_user_instances': 512, 'fs.inotify.max_user_watches': 524288 } as const;

/** Interfaces Docker creates for its networks: the default bridge and user-defined ones. */
export const DOCKER_BRIDGE = /^(docker0|br-[0-9a-f]+)$/;

/** A place the machine pulls from: what for, and the URL answered by any HTTP status when reachable. */
export interface PullSource {
  readonly host: string;
  readonly url: string;
  readonly what: string;
}

/** Registry host of an image reference (`docker.io` for `library/x` and `user/x`). */
export function imageRegistry(ref: string): string {
  const first = ref.split('/')[0];
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/** Every configured image reference (keys named `image` or ending in `Image`), the in-cluster registry's excluded. */
function configuredImages(c: RaibidConfig): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'string' && /(^i|I)mage$/.test(key)) out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(c, '');
  return out.filter((ref) => imageRegistry(ref) !== c.registryHost);
}

/**
 * Where the cluster pulls from the internet: the registries of the configured images (docker.io through
 * gitea.registry.dockerHubMirror when set), ghcr.io (Flux, the Flux Operator chart, KEDA), the KEDA chart
 * repository, and GitHub for the k3s install script and binary.
 */
export function pullSources(c: RaibidConfig): PullSource[] {
  const sources = new Map<string, PullSource>();
  const add = (host: string, url: string, what: string) => {
    const known = sources.get(host);
    sources.set(host, known ? { ...known, what: `${known.what}, ${what}` } : { host, url, what });
  };
  for (const ref of configuredImages(c)) {
    const host = imageRegistry(ref);
    const name = ref.split('@')[0];
    if (host === 'docker.io' && c.gitea.registry.dockerHubMirror) add(new URL(c.gitea.registry.dockerHubMirror).host, `${c.gitea.registry.dockerHubMirror.replace(/\/$/, '')}/v2/`, name);
    else add(host, `https://${host === 'docker.io' ? 'registry-1.docker.io' : host}/v2/`, name);
  }
  add(new URL(`https://${FLUX_REGISTRY}`).host, `https://${new URL(`https://${FLUX_REGISTRY}`).host}/v2/`, 'Flux controllers, Flux Operator chart, KEDA images');
  add(new URL(KEDA_CHART_REPOSITORY).host, `${KEDA_CHART_REPOSITORY}/index.yaml`, 'KEDA chart');
  add(new URL(K3S_INSTALL_SCRIPT_URL).host, K3S_INSTALL_SCRIPT_URL, 'k3s install script');
  add('github.com', 'https://github.com/', 'k3s binary');
  return [...sources.values()];
}

/** awk functions for IPv4 CIDRs: the first and last address as numbers, and overlap. */
const CIDR_AWK = [
  'function n(s,  a) { split(s, a, "."); return ((a[1] * 256 + a[2]) * 256 + a[3]) * 256 + a[4] }',
  'function size(c,  p) { split(c, p, "/"); return 2 ^ (32 - p[2]) }',
  'function lo(c,  p) { split(c, p, "/"); return int(n(p[1]) / size(c)) * size(c) }',
  'function hi(c) { return lo(c) + size(c) - 1 }',
  'function overlap(x, y) { return lo(x) <= hi(y) && lo(y) <= hi(x) }',
].join('\n');


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
  /**
   * Without nodeAddress: the networks (network.lanCidrs) the address k3s picks must lie in, since the
   * API-server NetworkPolicy rule then admits the API-server port on those networks only.
   */
  readonly lanCidrs?: readonly string[];
}

/** The source address of the default route: the one k3s advertises the API server on without node-ip. */
const DEFAULT_ROUTE_ADDRESS = `ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") {print $(i + 1); exit}}'`;

/** An awk program printing `yes` when the IPv4 address in variable `ip` lies in one of the CIDRs. */
function inCidrsAwk(cidrs: readonly string[]): string {
  const value = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const tests = cidrs.map((cidr) => {
    const [base, bits] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    return `int(v / ${size}) == ${Math.floor(value(base) / size)}`;
  });
  return `BEGIN { if (split(ip, o, ".") != 4) exit; v = ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4]; if (${tests.join(' || ')}) print "yes" }`;
}

export function preflightRequirements(c: RaibidConfig): PreflightRequirements {
  return {
    unameArch: UNAME_ARCH[c.node.arch],
    cores: c.node.cpu,
    // The capacity plan budgets exactly this much (plannedNodeMemory): one number for both.
    memoryKiB: Math.floor(plannedNodeMemory(c) / 1024),
    diskKiB: Math.ceil(bytes(c.node.disk) / 1024),
    serviceLbPorts: serviceLbPorts(c),
    ...(c.cluster.nodeAddress ? { nodeAddress: c.cluster.nodeAddress } : { lanCidrs: c.network.lanCidrs }),
  };
}

/**
 * Sets the facts as shell variables: arch, cores, mem_kib, disk_path, disk_kib (free), disk_used_kib,
 * k3s_installed, os_id, os_like, os_version, missing, sudo_ok, has_address, node_ip (without
 * cluster.nodeAddress: the default route's source address, or empty), listening (the TCP ports
 * something listens on, space-separated, or `unknown` without `ss`). Prints nothing.
 */
export function gatherScript(c: RaibidConfig): string {
  const req = preflightRequirements(c);
  return [
    'preflight_tmp=$(mktemp)',
    `trap 'rm -f "$preflight_tmp"' EXIT`,
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
      : // A fact the checks read only with cluster.nodeAddress; set for every reader of the facts.
        '# shellcheck disable=SC2034\nhas_address=unchecked',
    // A fact the checks read only without cluster.nodeAddress; set for every reader of the facts.
    ...(req.nodeAddress ? ['# shellcheck disable=SC2034'] : []),
    `node_ip=${req.nodeAddress ? '' : `$(${DEFAULT_ROUTE_ADDRESS})`}`,
    // The local port is what follows the last colon of the address (IPv6 addresses contain colons).
    `if command -v ss > /dev/null 2>&1; then listening=$(ss -ltn | awk 'NR > 1 {n = split($4, a, ":"); print a[n]}' | sort -un | tr '\\n' ' '); else listening=unknown; fi`,
    // Docker's bridges as `<interface>=<address>/<prefix>`, space-separated.
    `bridges=$(ip -o -4 addr show 2>/dev/null | awk '$2 ~ /${DOCKER_BRIDGE.source}/ {printf "%s=%s ", $2, $4}')`,
    "swap_kib=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)",
    'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cgroup=v2; cgroup_controllers=$(cat /sys/fs/cgroup/cgroup.controllers); else cgroup=v1; cgroup_controllers=; fi',
    'inotify_instances=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)',
    'inotify_watches=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo 0)',
    // Any HTTP answer (registries say 401) means reachable; curl's own error otherwise.
    'unreachable=',
    ...pullSources(c).map(
      (p) =>
        `code=$(curl -sS -o /dev/null --connect-timeout 5 --max-time 20 -w '%{http_code}' ${sh(p.url)} 2> "$preflight_tmp" || true); case "$code" in 000 | '') unreachable="$unreachable\${unreachable:+; }"${sh(`${p.host} (${p.what}): `)}"$(tr -s '\\n' ' ' < "$preflight_tmp")" ;; esac`,
    ),
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
    // Printed and kept going: what a user should know but what does not break the cluster.
    'warnings=',
    'warning() { warnings="${warnings}  - $1',
    '"; }',
    `[ "$arch" = ${sh(req.unameArch)} ] || problem ${word(`node.arch: raibid.yaml declares ${n.arch} (${req.unameArch}), the machine is `, expand('$arch'), '; set node.arch to match')}`,
    `[ "\${cores:-0}" -ge ${req.cores} ] 2>/dev/null || problem ${word(`node.cpu: raibid.yaml declares ${n.cpu} cores, the machine has `, expand('${cores:-unknown}'), '; lower node.cpu')}`,
    `[ "\${mem_kib:-0}" -ge ${req.memoryKiB} ] 2>/dev/null || problem ${word(`node.memory: raibid.yaml declares ${n.memory}, but the machine reports MemTotal `, expand(gib('${mem_kib:-0}')), `; the capacity plan budgets node.memory less ${pct}% (firmware and kernel reservations), which must fit in MemTotal; set node.memory to `, expand(suggestMemory('${mem_kib:-0}')))}`,
    // Before k3s runs, the volumes still need their room. Afterwards they occupy part of it (and the
    // machine is in use): the filesystem must still be able to hold node.disk, used and free together.
    'if [ "$k3s_installed" = yes ]; then',
    `  disk_total_kib=$(awk -v u="\${disk_used_kib:-0}" -v f="\${disk_kib:-0}" 'BEGIN {printf "%.0f", u + f}')`,
    `  [ "$disk_total_kib" -ge ${req.diskKiB} ] 2>/dev/null || problem ${word(`node.disk: raibid.yaml declares ${n.disk} for volumes, `, expand('$disk_path'), ' has ', expand(gib('${disk_used_kib:-0}')), ' used + ', expand(gib('${disk_kib:-0}')), ' free; lower node.disk or grow the filesystem')}`,
    'else',
    `  [ "\${disk_kib:-0}" -ge ${req.diskKiB} ] 2>/dev/null || problem ${word(`node.disk: raibid.yaml declares ${n.disk} for volumes, `, expand('$disk_path'), ' has ', expand(gib('${disk_kib:-0}')), ' free; lower node.disk or free up space')}`,
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
    ...(req.nodeAddress ? [`[ "$has_address" = yes ] || problem ${sh(`cluster.nodeAddress: ${req.nodeAddress} is not an address of this machine; fix cluster.nodeAddress`)}`] : []),
    // An empty node_ip is left to the hosts step, which names it.
    ...(req.lanCidrs
      ? [
          `if [ -n "\${node_ip:-}" ] && [ "$(awk -v ip="$node_ip" ${sh(inCidrsAwk(req.lanCidrs))})" != yes ]; then`,
          `  problem ${word('cluster.nodeAddress: unset, and the address k3s will use, ', expand('$node_ip'), `, is outside network.lanCidrs (${req.lanCidrs.join(', ')}), the only addresses the API-server NetworkPolicy rule admits; set cluster.nodeAddress to the machine's LAN address, or add its network to network.lanCidrs`)}`,
          'fi',
        ]
      : []),
    ...machineChecks(c),
    `if [ -n "$warnings" ]; then printf '%s\\n%s' ${sh(`raibid-ci preflight warnings on ${host}:`)} "$warnings" >&2; fi`,
    `if [ -n "$problems" ]; then printf '%s\\n%s' ${sh(`raibid-ci preflight failed on ${host}: the machine does not match raibid.yaml`)} "$problems" >&2; exit 1; fi`,
    `printf 'arch=%s\\ncores=%s\\nmemory_kib=%s\\ndisk_path=%s\\ndisk_kib=%s\\nos=%s %s\\n' "$arch" "$cores" "$mem_kib" "$disk_path" "$disk_kib" "$os_id" "$os_version"`,
  ].join('\n');
}

/**
 * What breaks k3s on this kind of machine, whatever raibid.yaml says: a Docker bridge overlapping the
 * pod or service range (routes collide; one in the LAN ranges only warns: its containers pass the
 * NetworkPolicies as LAN clients, but DGX OS ships Docker and whoever runs containers has root anyway),
 * swap (the kubelet's memory accounting and eviction assume none), cgroup v1 or a missing memory/cpu controller, low inotify limits, an unreachable registry.
 */
function machineChecks(c: RaibidConfig): string[] {
  const { lanCidrs, podCidr, serviceCidr } = c.network;
  const bridgeAwk = [
    CIDR_AWK,
    '{ split($0, b, "="); net = b[2]',
    '  if (overlap(net, pod)) { printf "fail %s %s overlaps network.podCidr %s (routes would collide)\\n", b[1], net, pod; next }',
    '  if (overlap(net, svc)) { printf "fail %s %s overlaps network.serviceCidr %s (routes would collide)\\n", b[1], net, svc; next }',
    '  nl = split(lan, l, " "); for (i = 1; i <= nl; i++) if (overlap(net, l[i])) { printf "warn %s %s lies in network.lanCidrs entry %s, so containers on it pass the NetworkPolicies as LAN clients of Gitea and the API\\n", b[1], net, l[i]; next } }',
  ].join('\n');
  const [instances, watches] = Object.entries(INOTIFY_MIN);
  const raise = Object.entries(INOTIFY_MIN).map(([k, v]) => `${k}=${v}`);
  return [
    `bridge_problems=$(printf '%s' "\${bridges:-}" | tr ' ' '\\n' | grep . | awk -v lan=${sh(lanCidrs.join(' '))} -v pod=${sh(podCidr)} -v svc=${sh(serviceCidr)} ${sh(bridgeAwk)} || true)`,
    'while IFS= read -r line; do',
    '  case "$line" in',
    `    'fail '*) problem ${word('Docker network ', expand('${line#fail }'), `; move Docker's networks elsewhere ("bip" and "default-address-pools" in /etc/docker/daemon.json, then sudo systemctl restart docker), or change the cluster ranges before the first bootstrap`)} ;;`,
    // Not a failure: whoever starts containers on the machine already has root through Docker's socket.
    `    'warn '*) warning ${word('Docker network ', expand('${line#warn }'), `; that is only the machine's own containers (their owners have root through Docker's socket anyway), but to keep them out narrow network.lanCidrs to your LAN, such as 192.168.1.0/24`)} ;;`,
    '  esac',
    'done <<RAIBID_BRIDGES',
    '$bridge_problems',
    'RAIBID_BRIDGES',
    `[ "\${swap_kib:-0}" -eq 0 ] 2>/dev/null || problem ${word('swap: ', expand(`$(awk -v k="\${swap_kib:-0}" 'BEGIN {printf "%.1fGi", k/1048576}')`), " of swap is on; the kubelet's memory requests, limits and eviction (node.evictionHard) assume none: sudo swapoff -a, and remove the swap line from /etc/fstab (or: sudo systemctl mask swap.target)")}`,
    `if [ "$cgroup" != v2 ]; then problem ${sh('cgroup: the machine runs cgroup v1; k3s and the kubelet here need the unified hierarchy (cgroup v2): add systemd.unified_cgroup_hierarchy=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, sudo update-grub, reboot')}`,
    `else for ctl in cpu memory pids; do case " $cgroup_controllers " in *" $ctl "*) ;; *) problem ${word('cgroup: the ', expand('$ctl'), ' controller is not enabled (/sys/fs/cgroup/cgroup.controllers); the kubelet enforces requests and limits with it')} ;; esac; done; fi`,
    `if ! { [ "\${inotify_instances:-0}" -ge ${instances[1]} ] && [ "\${inotify_watches:-0}" -ge ${watches[1]} ]; } 2>/dev/null; then problem ${word(`inotify: ${instances[0]} is `, expand('${inotify_instances:-unknown}'), ` and ${watches[0]} `, expand('${inotify_watches:-unknown}'), `; pods fail with "too many open files" below ${instances[1]} and ${watches[1]}: printf '%s\\n' ${raise.join(' ')} | sudo tee /etc/sysctl.d/99-raibid-inotify.conf && sudo sysctl --system`)}; fi`,
    `[ -z "\${unreachable:-}" ] || problem ${word('registries: cannot reach ', expand('$unreachable'), '; the cluster pulls its images and charts from there: check DNS, the default route and any proxy or firewall (set gitea.registry.dockerHubMirror for Docker Hub behind a mirror)')}`,
  ];
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
