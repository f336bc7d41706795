import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installMocks, MOCK_PRIVATE_KEY, type Registered, settle } from './bootstrap-harness.js';
import { parse } from 'yaml';
import { config, OWN_IMAGES_WITHOUT_BUILDKIT, withRegistryTls } from './helpers.js';
import { bytes, cpuMillis } from '../src/config/quantity.js';
import { kubeletArgs, nodeAllocatable, plannedNodeMemory } from '../src/capacity/allocatable.js';
import { K3S_CONFIG_PATH, LOCAL_STORAGE_PATH, k3sConfig, k3sConfigYaml, registries, registriesYaml } from '../src/bootstrap/k3s-config.js';
import { hostsScript, installScript, K3s, uninstallScript, USERNS_SYSCTL, USERNS_SYSCTL_PATH, usernsScript, usernsSysctlConf } from '../src/bootstrap/k3s.js';
import { pointKubeconfigAt } from '../src/bootstrap/kubeconfig.js';
import { checkScript, gatherScript, parseFacts, preflightRequirements, preflightScript, pullSources } from '../src/bootstrap/preflight-script.js';
import { K3S_RESTART_PENDING, writeFileScript } from '../src/bootstrap/shell.js';
import { K3S_INSTALL_SCRIPT_URL, K3S_VERSION } from '../src/bootstrap/versions.js';

const HOST = { host: '192.168.1.50' };

/** `kube-reserved=cpu=1,memory=2Gi` → { cpu: '1', memory: '2Gi' } */
function flag(args: readonly string[], name: string): Record<string, string> {
  const arg = args.find((a) => a.startsWith(`${name}=`));
  if (!arg) throw new Error(`no ${name} in ${args.join(' ')}`);
  return Object.fromEntries(arg.slice(name.length + 1).split(',').map((kv) => kv.split(/=|</) as [string, string]));
}

describe('k3s config.yaml', () => {
  const c = config();
  const k = k3sConfig(c, HOST);

  it('disables traefik', () => {
    expect(k.disable).toEqual(['traefik']);
  });

  it('writes a root-only kubeconfig', () => {
    expect(k['write-kubeconfig-mode']).toBe('0600');
  });

  it('adds the stack host as TLS SAN, and cluster.nodeAddress when set', () => {
    expect(k['tls-san']).toEqual(['192.168.1.50']);
    const withAddress = k3sConfig(config('cluster:\n  nodeAddress: 192.168.1.60\n'), { host: 'dgx.lan' });
    expect(withAddress['tls-san']).toEqual(['dgx.lan', '192.168.1.60']);
    expect(withAddress['node-ip']).toBe('192.168.1.60');
  });

  it('passes the capacity planner’s kubelet reservations unchanged', () => {
    expect(k['kubelet-arg']).toEqual(kubeletArgs(c));
  });

  it('leaves exactly the planner’s allocatable to pods', () => {
    for (const yaml of ['', 'node:\n  cpu: 12\n  memory: 64Gi\n  systemReserved: { cpu: 500m, memory: 3Gi }\n  kubeReserved: { cpu: 750m, memory: 1536Mi }\n  evictionHard: 1Gi\n']) {
      const cfg = config(yaml);
      const args = k3sConfig(cfg, HOST)['kubelet-arg'] as string[];
      const sys = flag(args, 'system-reserved');
      const kube = flag(args, 'kube-reserved');
      const evict = flag(args, 'eviction-hard');
      const planned = nodeAllocatable(cfg);
      expect(cfg.node.cpu * 1000 - cpuMillis(sys.cpu) - cpuMillis(kube.cpu)).toBe(planned.cpuMillis);
      expect(plannedNodeMemory(cfg) - bytes(sys.memory) - bytes(kube.memory) - bytes(evict['memory.available'])).toBe(planned.memoryBytes);
    }
  });

  it('keeps volumes outside the k3s data dir so an uninstall leaves them', () => {
    expect(k['default-local-storage-path']).toBe(LOCAL_STORAGE_PATH);
    expect(LOCAL_STORAGE_PATH.startsWith('/var/lib/rancher/k3s')).toBe(false);
  });

  it('labels the node with the cluster name and uses the configured networks', () => {
    expect(k['node-label']).toEqual(['raibid-ci/cluster=dgx-spark']);
    expect(k).toMatchObject({ 'cluster-cidr': '10.42.0.0/16', 'service-cidr': '10.43.0.0/16', 'https-listen-port': 6443, 'secrets-encryption': true });
  });

  it('is the YAML written to the machine', () => {
    expect(parse(k3sConfigYaml(c, HOST))).toEqual(k);
    expect(k3sConfigYaml(c, HOST)).toMatchSnapshot();
  });
});

describe('k3s registries.yaml', () => {
  it('mirrors gitea.<domain> over plain HTTP when the registry has no TLS', () => {
    expect(registries(config())).toEqual({ mirrors: { 'gitea.dgx.local': { endpoint: ['http://gitea.dgx.local'] } } });
  });

  it('uses HTTPS when gitea.registry.tls is set', () => {
    expect(registries(withRegistryTls(config())).mirrors['gitea.dgx.local']).toEqual({ endpoint: ['https://gitea.dgx.local'] });
  });

  it('adds the Docker Hub mirror when configured, and only then', () => {
    const r = registries(config('cluster:\n  domain: lab.example\ngitea:\n  registry:\n    dockerHubMirror: https://mirror.lab.example\n'));
    expect(r.mirrors).toEqual({
      'gitea.lab.example': { endpoint: ['http://gitea.lab.example'] },
      'docker.io': { endpoint: ['https://mirror.lab.example'] },
    });
    expect(registries(config()).mirrors['docker.io']).toBeUndefined();
  });

  it('is the YAML written to the machine', () => {
    expect(parse(registriesYaml(config()))).toEqual(registries(config()));
  });

  it('has no login without credentials (the first version, before Gitea runs)', () => {
    expect(registries(config()).configs).toBeUndefined();
  });

  it('adds the login for gitea.<domain> with credentials, keeping the mirrors', () => {
    const login = { username: 'raibid-admin', password: 'tok' };
    const r = registries(config(), login);
    expect(r).toEqual({ mirrors: registries(config()).mirrors, configs: { 'gitea.dgx.local': { auth: { username: 'raibid-admin', password: 'tok' } } } });
  });

  it('keys the login by the registry host, over HTTPS too, and leaves the Docker Hub mirror without one', () => {
    const r = registries(withRegistryTls(config('cluster:\n  domain: lab.example\ngitea:\n  registry:\n    dockerHubMirror: https://mirror.lab.example\n')), { username: 'u', password: 'p' });
    expect(r.mirrors['gitea.lab.example']).toEqual({ endpoint: ['https://gitea.lab.example'] });
    expect(r.configs).toEqual({ 'gitea.lab.example': { auth: { username: 'u', password: 'p' } } });
  });

  it('writes the login as YAML that reads back as strings, also for a token of digits', () => {
    for (const password of ['0123456789012345678901234567890123456789', '12e3', 'a1b2c3']) {
      const text = registriesYaml(config(), { username: 'raibid-admin', password });
      expect(parse(text).configs['gitea.dgx.local'].auth).toEqual({ username: 'raibid-admin', password });
    }
    expect(registriesYaml(config(), { username: 'raibid-admin', password: 'tok' })).toBe(
      [
        '# written by the raibid-ci bootstrap (pulumi up); local edits are overwritten',
        'mirrors:',
        '  gitea.dgx.local:',
        '    endpoint:',
        '      - http://gitea.dgx.local',
        'configs:',
        '  gitea.dgx.local:',
        '    auth:',
        '      username: raibid-admin',
        '      password: tok',
        '',
      ].join('\n'),
    );
  });
});

/** Runs a script with `sh`; stdin optional. */
function run(text: string, stdin = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', text], { input: stdin, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = {
  arch: 'aarch64',
  cores: '20',
  mem_kib: '130500000',
  disk_path: '/var/lib',
  disk_kib: '4400000000',
  disk_used_kib: '100000000',
  k3s_installed: 'no',
  os_id: 'ubuntu',
  os_like: 'debian',
  os_version: '24.04',
  missing: '',
  sudo_ok: 'yes',
  has_address: 'unchecked',
  listening: '22 53 ',
  bridges: '',
  swap_kib: '0',
  cgroup: 'v2',
  cgroup_controllers: 'cpuset cpu io memory hugetlb pids rdma misc',
  inotify_instances: '8192',
  inotify_watches: '1048576',
  unreachable: '',
};
const TIB_KIB = 2 ** 30;

function check(facts: Partial<typeof GOOD>, yaml = ''): ReturnType<typeof run> {
  const vars = Object.entries({ ...GOOD, ...facts }).map(([k, v]) => `${k}='${v}'`);
  return run(['set -eu', ...vars, checkScript(config(yaml), 'dgx')].join('\n'));
}

describe('preflight', () => {
  it('passes a machine that matches raibid.yaml and reports its facts', () => {
    const r = check({});
    expect(r.status).toBe(0);
    expect(parseFacts(r.stdout)).toEqual({ arch: 'aarch64', cores: '20', memory_kib: '130500000', disk_path: '/var/lib', disk_kib: '4400000000', os: 'ubuntu 24.04' });
  });

  it('fails with one line per shortfall', () => {
    const r = check({ arch: 'x86_64', cores: '8', mem_kib: '33554432', disk_kib: '1073741824', os_id: 'debian', os_like: '', os_version: '12', missing: ' git', sudo_ok: 'no', listening: '22 80 ' });
    expect(r.status).toBe(1);
    const user = run('id -un').stdout.trim();
    expect(r.stderr).toBe(
      [
        'raibid-ci preflight failed on dgx: the machine does not match raibid.yaml',
        '  - node.arch: raibid.yaml declares arm64 (aarch64), the machine is x86_64; set node.arch to match',
        '  - node.cpu: raibid.yaml declares 20 cores, the machine has 8; lower node.cpu',
        '  - node.memory: raibid.yaml declares 128Gi, but the machine reports MemTotal 32.0Gi; the capacity plan budgets node.memory less 10% (firmware and kernel reservations), which must fit in MemTotal; set node.memory to 35.5Gi',
        '  - node.disk: raibid.yaml declares 3Ti for volumes, /var/lib has 1024.0Gi free; lower node.disk or free up space',
        "  - port 80: something on the machine listens on it (sudo ss -ltnp 'sport = :80'), but k3s ServiceLB forwards it to Gitea HTTP (gitea.dgx.local), which would hide that service; stop it or move it to another port",
        '  - OS: Ubuntu 22.04 or newer expected, found debian 12',
        '  - tools missing: git; install them (sudo apt-get install -y curl git)',
        `  - sudo: ${user} needs passwordless sudo (a line "${user} ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/)`,
        '',
      ].join('\n'),
    );
  });

  it('fails on an Ubuntu older than 22.04', () => {
    expect(check({ os_version: '20.04' }).stderr).toContain('  - OS: Ubuntu 22.04 or newer expected, found Ubuntu 20.04\n');
  });

  it('accepts a MemTotal down to what the capacity plan budgets (node.memory less 10%), no less', () => {
    const min = preflightRequirements(config()).memoryKiB;
    expect(min).toBe(plannedNodeMemory(config()) / 1024);
    expect(check({ mem_kib: String(min) }).status).toBe(0);
    expect(check({ mem_kib: String(min - 1) }).status).toBe(1);
  });

  it('fails with the MemTotal to set node.memory to, rounded down so that it passes', () => {
    const r = check({ mem_kib: '115000000' });
    expect(r.stderr).toContain('the machine reports MemTotal 109.7Gi;');
    expect(r.stderr).toContain('; set node.memory to 121.8Gi\n');
    expect(check({ mem_kib: '115000000' }, 'node:\n  memory: 121.8Gi\n').status).toBe(0);
  });

  it('needs node.disk free before k3s is installed', () => {
    const facts = { disk_kib: String(TIB_KIB), disk_used_kib: String(2.5 * TIB_KIB) };
    expect(check({ ...facts, k3s_installed: 'no' }).stderr).toContain('  - node.disk: raibid.yaml declares 3Ti for volumes, /var/lib has 1024.0Gi free; lower node.disk or free up space\n');
    expect(check({ disk_kib: String(3 * TIB_KIB), k3s_installed: 'no' }).status).toBe(0);
  });

  it('needs node.disk used and free together once k3s is installed (the volumes use part of it)', () => {
    expect(check({ disk_kib: String(TIB_KIB), disk_used_kib: String(2.5 * TIB_KIB), k3s_installed: 'yes' }).status).toBe(0);
    expect(check({ disk_kib: String(TIB_KIB), disk_used_kib: String(TIB_KIB), k3s_installed: 'yes' }).stderr).toContain(
      '  - node.disk: raibid.yaml declares 3Ti for volumes, /var/lib has 1024.0Gi used + 1024.0Gi free; lower node.disk or grow the filesystem\n',
    );
  });

  it('fails when something listens on a port k3s ServiceLB forwards (80, 2222, api.lanPort)', () => {
    const r = check({ listening: '22 80 2222 8080 9090 ' });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - port '));
    expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual(['  - port 80', '  - port 2222', '  - port 8080']);
    expect(lines[2]).toContain('k3s ServiceLB forwards it to the API (ci.dgx.local, api.lanPort)');
    expect(check({ listening: '22 8080 ' }, 'api:\n  lanPort: 9090\n').status).toBe(0);
    expect(check({ listening: '22 9090 ' }, 'api:\n  lanPort: 9090\n').status).toBe(1);
    // 22 is not 2222, 8 is not 80.
    expect(check({ listening: '8 22 222 ' }).status).toBe(0);
    expect(check({ listening: 'unknown' }).status).toBe(0);
  });

  it('checks that cluster.nodeAddress is an address of the machine', () => {
    expect(check({ has_address: 'no' }, 'cluster:\n  nodeAddress: 192.168.1.60\n').stderr).toContain('  - cluster.nodeAddress: 192.168.1.60 is not an address of this machine; fix cluster.nodeAddress\n');
    expect(check({ has_address: 'yes' }, 'cluster:\n  nodeAddress: 192.168.1.60\n').status).toBe(0);
  });

  it('fails on a Docker bridge overlapping the cluster ranges; one in the LAN ranges (DGX OS ships Docker) only warns', () => {
    const lines = (r: ReturnType<typeof run>) => r.stderr.split('\n').filter((l) => l.startsWith('  - Docker network '));
    const fix = "; move Docker's networks elsewhere (\"bip\" and \"default-address-pools\" in /etc/docker/daemon.json, then sudo systemctl restart docker), or change the cluster ranges before the first bootstrap";
    const note = "; that is only the machine's own containers (their owners have root through Docker's socket anyway), but to keep them out narrow network.lanCidrs to your LAN, such as 192.168.1.0/24";
    const warned = check({ bridges: 'docker0=172.17.0.1/16 br-0a1b2c=192.168.49.1/24 ' });
    expect(warned.status).toBe(0);
    expect(warned.stderr.split('\n')[0]).toMatch(/^raibid-ci preflight warnings on .+:$/);
    expect(lines(warned)).toEqual([
      `  - Docker network docker0 172.17.0.1/16 lies in network.lanCidrs entry 172.16.0.0/12, so containers on it pass the NetworkPolicies as LAN clients of Gitea and the API${note}`,
      `  - Docker network br-0a1b2c 192.168.49.1/24 lies in network.lanCidrs entry 192.168.0.0/16, so containers on it pass the NetworkPolicies as LAN clients of Gitea and the API${note}`,
    ]);
    const lan = 'network:\n  lanCidrs: [192.168.1.0/24]\n';
    expect(check({ bridges: 'docker0=172.17.0.1/16 ' }, lan)).toMatchObject({ status: 0, stderr: '' });
    for (const [bridge, line] of [
      ['docker0=10.42.7.1/24 ', `  - Docker network docker0 10.42.7.1/24 overlaps network.podCidr 10.42.0.0/16 (routes would collide)${fix}`],
      ['br-ff=10.40.0.1/14 ', `  - Docker network br-ff 10.40.0.1/14 overlaps network.podCidr 10.42.0.0/16 (routes would collide)${fix}`],
      ['docker0=10.43.128.1/17 ', `  - Docker network docker0 10.43.128.1/17 overlaps network.serviceCidr 10.43.0.0/16 (routes would collide)${fix}`],
    ]) {
      const r = check({ bridges: bridge }, lan);
      expect(r.status, bridge).toBe(1);
      expect(lines(r), bridge).toEqual([line]);
    }
  });

  it('fails with swap on, naming how to turn it off', () => {
    expect(check({ swap_kib: '8388604' }).stderr).toContain(
      "  - swap: 8.0Gi of swap is on; the kubelet's memory requests, limits and eviction (node.evictionHard) assume none: sudo swapoff -a, and remove the swap line from /etc/fstab (or: sudo systemctl mask swap.target)\n",
    );
  });

  it('needs cgroup v2 with the cpu, memory and pids controllers', () => {
    expect(check({ cgroup: 'v1', cgroup_controllers: '' }).stderr).toContain('  - cgroup: the machine runs cgroup v1; k3s and the kubelet here need the unified hierarchy (cgroup v2)');
    const r = check({ cgroup_controllers: 'cpuset cpu io pids' });
    expect(r.stderr.split('\n').filter((l) => l.includes('cgroup'))).toEqual(['  - cgroup: the memory controller is not enabled (/sys/fs/cgroup/cgroup.controllers); the kubelet enforces requests and limits with it']);
  });

  it('needs inotify limits of at least 512 instances and 524288 watches', () => {
    const msg = `  - inotify: fs.inotify.max_user_instances is 128 and fs.inotify.max_user_watches 1048576; pods fail with "too many open files" below 512 and 524288: printf '%s\\n' fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/99-raibid-inotify.conf && sudo sysctl --system\n`;
    expect(check({ inotify_instances: '128' }).stderr).toContain(msg);
    expect(check({ inotify_watches: '65536' }).status).toBe(1);
    expect(check({ inotify_instances: '512', inotify_watches: '524288' }).status).toBe(0);
  });

  it('fails when a registry the cluster pulls from is unreachable, with curl’s error', () => {
    expect(check({ unreachable: 'ghcr.io (Flux controllers, Flux Operator chart, KEDA images): curl: (6) Could not resolve host: ghcr.io ' }).stderr).toContain(
      '  - registries: cannot reach ghcr.io (Flux controllers, Flux Operator chart, KEDA images): curl: (6) Could not resolve host: ghcr.io ; the cluster pulls its images and charts from there',
    );
  });

  it('asks every registry of the pinned images, Flux, KEDA and the k3s download, Docker Hub through its mirror when set', () => {
    expect(pullSources(config()).map((p) => [p.host, p.url])).toEqual(expect.arrayContaining([
      ['docker.gitea.com', 'https://docker.gitea.com/v2/'],
      ['docker.io', 'https://registry-1.docker.io/v2/'],
      ['ghcr.io', 'https://ghcr.io/v2/'],
      ['kedacore.github.io', 'https://kedacore.github.io/charts/index.yaml'],
      ['raw.githubusercontent.com', K3S_INSTALL_SCRIPT_URL],
      ['github.com', 'https://github.com/'],
    ]));
    expect(pullSources(config()).find((p) => p.host === 'docker.io')!.what).toContain('docker.io/library/postgres:');
    const mirrored = pullSources(config('gitea:\n  registry:\n    dockerHubMirror: https://mirror.lan:5000\n')).map((p) => p.url);
    expect(mirrored).toContain('https://mirror.lan:5000/v2/');
    expect(mirrored).not.toContain('https://registry-1.docker.io/v2/');
    expect(pullSources(config()).every((p) => p.host !== 'gitea.dgx.local')).toBe(true);
  });

  it('gathers every fact the check reads on a real Linux machine', () => {
    const r = run(['set -eu', gatherScript(config()), 'for v in arch cores mem_kib disk_path disk_kib disk_used_kib k3s_installed os_id os_like os_version missing sudo_ok has_address listening bridges swap_kib cgroup cgroup_controllers inotify_instances inotify_watches unreachable; do eval "printf \'%s=%s\\n\' $v \\"\\$$v\\""; done'].join('\n'));
    expect(r.status).toBe(0);
    const facts = parseFacts(r.stdout);
    expect(Number(facts.cores)).toBeGreaterThan(0);
    expect(Number(facts.mem_kib)).toBeGreaterThan(0);
    expect(Number(facts.disk_kib)).toBeGreaterThan(0);
    expect(facts.arch).toMatch(/^\w+$/);
    expect(Number(facts.disk_used_kib)).toBeGreaterThan(0);
    expect(facts.k3s_installed).toMatch(/^(yes|no)$/);
    expect(facts.listening).toMatch(/^(unknown|\d+( \d+)*|)$/);
  });

  it('is a valid sh script', () => {
    expect(run(`sh -n <<'EOF'\n${preflightScript(config(), 'dgx')}EOF`).status).toBe(0);
  });
});

describe('machine scripts', () => {
  it('installs the pinned k3s from the install script of the same tag, and only when it is not installed yet', () => {
    const s = installScript();
    expect(K3S_VERSION).toMatch(/^v\d+\.\d+\.\d+\+k3s\d+$/);
    expect(K3S_INSTALL_SCRIPT_URL).toBe(`https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION.replace('+', '%2B')}/install.sh`);
    expect(s).toContain(`INSTALL_K3S_VERSION='${K3S_VERSION}'`);
    expect(s).toContain(`grep -qF '${K3S_VERSION}'`);
    expect(s).toContain('kubectl wait --for=condition=Ready node --all');
  });

  it('writes a file and restarts k3s only when its content changed', () => {
    const s = writeFileScript(K3S_CONFIG_PATH, '0600', true);
    expect(s).toContain(`sudo cmp -s "$tmp" '${K3S_CONFIG_PATH}'; then`);
    // Unchanged and no restart owed: stop before any restart.
    expect(s).toContain(`if ! sudo test -e '${K3S_RESTART_PENDING}'; then echo '${K3S_CONFIG_PATH} unchanged'; exit 0; fi`);
    expect(s.indexOf('exit 0')).toBeLessThan(s.indexOf('systemctl restart k3s'));
    // The owed restart is recorded before the file changes and cleared only after the restart.
    expect(s.indexOf(`/dev/null '${K3S_RESTART_PENDING}'`)).toBeLessThan(s.indexOf(`"$tmp" '${K3S_CONFIG_PATH}'\n`));
    expect(s.trimEnd().endsWith(`sudo rm -f '${K3S_RESTART_PENDING}'`)).toBe(true);
    expect(writeFileScript(K3S_CONFIG_PATH, '0600', false)).not.toMatch(/restart/);
  });

  it('points gitea.<domain> at the machine in /etc/hosts', () => {
    expect(hostsScript(config('cluster:\n  nodeAddress: 192.168.1.60\n'))).toContain(`ip='192.168.1.60'`);
    expect(hostsScript(config())).toContain(`ip -4 route get`);
    expect(hostsScript(config())).toContain(`'gitea.dgx.local'`);
  });

  it('are valid sh scripts', () => {
    for (const s of [installScript(), uninstallScript(), hostsScript(config()), writeFileScript(K3S_CONFIG_PATH, '0600', true)]) {
      expect(run(`sh -n <<'EOF'\n${s}EOF`).status).toBe(0);
    }
  });
});

describe('k3s install waits for the node (installScript)', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'raibid-install-'));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    stub('sudo', 'exec "$@"');
    stub('sleep', 'exit 0');
    // k3s already installed; the node registers on the $FAKE_NODE_AFTER-th `get nodes` ("never": not at all).
    stub(
      'k3s',
      [
        'case "$*" in',
        `  --version) echo "k3s version \${FAKE_K3S_VERSION:-${K3S_VERSION}} (abc)"; echo "go version go1.24" ;;`,
        '  *"get --raw /readyz"*) echo ok ;;',
        '  *"get nodes -o name"*) n=$(($(cat "$COUNT" 2>/dev/null || echo 0) + 1)); echo $n > "$COUNT"; [ "$FAKE_NODE_AFTER" != never ] && [ $n -ge "$FAKE_NODE_AFTER" ] && echo node/spark ;;',
        '  *"wait --for=condition=Ready node --all"*) [ "$(cat "$COUNT" 2>/dev/null || echo 0)" -ge "$FAKE_NODE_AFTER" ] 2>/dev/null || { echo "error: no matching resources found" >&2; exit 1; }; echo "node/spark condition met" ;;',
        'esac',
      ].join('\n'),
    );
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const runInstall = (after: string, installed?: string) => {
    const count = join(root, `count-${after}`);
    return spawnSync('sh', ['-c', installScript()], { encoding: 'utf8', env: { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}`, COUNT: count, FAKE_NODE_AFTER: after, ...(installed ? { FAKE_K3S_VERSION: installed } : {}) } });
  };

  it('refuses to go back a minor version from the k3s that runs, naming both', () => {
    const minor = Number(/^v1\.(\d+)\./.exec(K3S_VERSION)![1]);
    const newer = `v1.${minor + 1}.0+k3s1`;
    const r = runInstall('1', newer);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`k3s ${newer} runs on this machine, a newer minor than the pinned ${K3S_VERSION} (src/bootstrap/versions.ts): Kubernetes cannot go back a minor version; pin a k3s of that minor or newer, or remove k3s first (sudo /usr/local/bin/k3s-uninstall.sh deletes the cluster)\n`);
    // An older minor is an upgrade, a patch of the same minor in either direction is left to the installer.
    for (const ok of [`v1.${minor - 1}.9+k3s1`, `v1.${minor}.0+k3s1`]) expect(runInstall('1', ok).stderr, ok).not.toContain('cannot go back');
  });

  it('waits until the node has registered before waiting for it to be Ready', () => {
    const r = runInstall('3');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('node/spark condition met');
  });

  it('fails with what to look at when no node registers', () => {
    const r = runInstall('never');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('no node registered with k3s within 120 s; look at: sudo journalctl -u k3s\n');
  });
});

describe('user namespaces for rootless BuildKit (usernsScript)', () => {
  const isRoot = process.getuid?.() === 0;
  let root: string;
  let bin: string;
  let calls: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'raibid-userns-'));
    bin = join(root, 'bin');
    mkdirSync(bin);
    calls = join(root, 'calls.log');
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    // Not root (a developer machine): `install -o root -g root` would fail, so the stand-in drops the owner.
    stub('sudo', isRoot ? 'exec "$@"' : 'if [ "$1" = install ]; then shift; exec install $(printf "%s\\n" "$@" | sed "/^-[og]$/{N;d}"); fi\nexec "$@"');
    // A kernel with the sysctl at $FAKE_USERNS (or without it, when that is "absent").
    stub('sysctl', ['printf "sysctl %s\\n" "$*" >> "$CALLS"', 'case "$1" in -n) [ "$FAKE_USERNS" = absent ] && { echo "sysctl: cannot stat /proc/sys/kernel/apparmor_restrict_unprivileged_userns" >&2; exit 255; }; echo "$FAKE_USERNS" ;; esac'].join('\n'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function runUserns(path: string, kernel: string): { status: number | null; stdout: string; calls: string[] } {
    writeFileSync(calls, '');
    const r = spawnSync('sh', ['-c', usernsScript(path)], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CALLS: calls, FAKE_USERNS: kernel } });
    return { status: r.status, stdout: r.stdout, calls: readFileSync(calls, 'utf8').split('\n').filter(Boolean) };
  }

  it('writes the drop-in setting the restriction to 0 and applies it, where the kernel has it', () => {
    const path = join(root, 'a', '99-raibid-userns.conf');
    const r = runUserns(path, '1');
    expect(r.status).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(usernsSysctlConf());
    expect(usernsSysctlConf()).toContain('\nkernel.apparmor_restrict_unprivileged_userns = 0\n');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(r.calls).toContain(`sysctl -q -p ${path}`);
    expect(r.stdout).toBe(`wrote ${path}\n${USERNS_SYSCTL} = 1\n`);
  });

  it('applies it again without rewriting an unchanged file', () => {
    const path = join(root, 'b', '99-raibid-userns.conf');
    runUserns(path, '1');
    const r = runUserns(path, '0');
    expect(r.stdout).toBe(`${path} unchanged\n${USERNS_SYSCTL} = 0\n`);
    expect(r.calls).toContain(`sysctl -q -p ${path}`);
  });

  it('changes nothing on a kernel without the sysctl (nothing restricted)', () => {
    const path = join(root, 'c', '99-raibid-userns.conf');
    const r = runUserns(path, 'absent');
    expect(r.status).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(r.calls).toEqual([`sysctl -n ${USERNS_SYSCTL}`]);
    expect(r.stdout).toBe(`${USERNS_SYSCTL} does not exist on this kernel; unprivileged user namespaces are not restricted\n`);
  });

  it('goes to /etc/sysctl.d and is a valid sh script', () => {
    expect(USERNS_SYSCTL_PATH).toBe('/etc/sysctl.d/99-raibid-userns.conf');
    expect(run(`sh -n <<'EOF'\n${usernsScript()}EOF`).status).toBe(0);
  });
});

describe('K3s step', () => {
  let resources: Registered[];

  beforeAll(async () => {
    resources = await installMocks();
    const connection = { host: '192.168.1.50', user: 'ubuntu', privateKey: pulumi.secret(MOCK_PRIVATE_KEY) };
    new K3s('on', { connection, config: config(), host: '192.168.1.50', after: [] });
    new K3s('off', { connection, config: config(OWN_IMAGES_WITHOUT_BUILDKIT), host: '192.168.1.50', after: [] });
    await settle();
  });

  it('lifts the user-namespace restriction only when buildkit.enabled, before the install', () => {
    const names = resources.map((r) => r.name);
    expect(names).toContain('on-userns');
    expect(names).not.toContain('off-userns');
    const urn = resources.find((r) => r.name === 'on-userns')!.urn;
    expect(resources.find((r) => r.name === 'on-install')!.deps).toContain(urn);
  });
});

describe('kubeconfig', () => {
  const text = 'apiVersion: v1\nkind: Config\nclusters:\n  - name: default\n    cluster:\n      server: https://127.0.0.1:6443\n';

  it('points the kubeconfig at the machine', () => {
    expect(parse(pointKubeconfigAt(text, '192.168.1.50', 6443)).clusters[0].cluster.server).toBe('https://192.168.1.50:6443');
  });

  it('fails when the file read is no kubeconfig', () => {
    expect(() => pointKubeconfigAt('sudo: a password is required', 'dgx', 6443)).toThrow(
      '/etc/rancher/k3s/k3s.yaml on dgx is not a kubeconfig; check that k3s is running (sudo systemctl status k3s)',
    );
  });
});
