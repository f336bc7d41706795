/**
 * The files bootstrap writes on the machine before k3s starts, as pure functions of the config so tests
 * read exactly what lands on disk.
 *
 *   /etc/rancher/k3s/config.yaml      k3s server flags (the install script never touches this file)
 *   /etc/rancher/k3s/registries.yaml  containerd mirrors: the Gitea registry, optionally a Docker Hub mirror;
 *                                     later (RegistryAuth step) also the login for the Gitea registry
 *
 * @see https://docs.k3s.io/installation/configuration#configuration-file
 * @see https://docs.k3s.io/installation/private-registry
 */
import { stringify } from 'yaml';
import type { RaibidConfig } from '../config/resolve.js';
import { kubeletArgs } from '../capacity/allocatable.js';
import { GITEA_LAN_HTTP_PORT, GITEA_LAN_SSH_PORT } from '../gitea/gitea.js';

export const K3S_CONFIG_PATH = '/etc/rancher/k3s/config.yaml';
export const K3S_REGISTRIES_PATH = '/etc/rancher/k3s/registries.yaml';
/** Where k3s writes the admin kubeconfig. */
export const K3S_KUBECONFIG_PATH = '/etc/rancher/k3s/k3s.yaml';

/**
 * Folder of the local-path volumes (every StorageClass on the node). Deliberately outside k3s's data dir
 * (/var/lib/rancher/k3s), which `k3s-uninstall.sh` deletes: with reclaimPolicy Retain the Gitea,
 * PostgreSQL and Redis data survive `pulumi destroy`.
 */
export const LOCAL_STORAGE_PATH = '/var/lib/raibid/storage';

/** Label key put on the node; its value is the cluster name. */
export const CLUSTER_NODE_LABEL = 'raibid-ci/cluster';

/** The packaged k3s components bootstrap switches off. Traefik: Gitea and the API are exposed without it. */
export const DISABLED_COMPONENTS = ['traefik'] as const;

/** A port k3s ServiceLB forwards on the node, and what for. */
export interface ServiceLbPort {
  readonly port: number;
  readonly use: string;
}

/**
 * The node ports of the LoadBalancer Services (k3s ServiceLB). ServiceLB DNATs each of them on the node
 * to its pods, so once those pods run, whatever else answered on that port (sshd, a web server) is no
 * longer reachable from the LAN through it.
 */
export function serviceLbPorts(c: RaibidConfig): ServiceLbPort[] {
  return [
    { port: GITEA_LAN_HTTP_PORT, use: `Gitea HTTP (${c.registryHost})` },
    { port: GITEA_LAN_SSH_PORT, use: `Gitea SSH (${c.registryHost})` },
    { port: c.api.lanPort, use: `the API (ci.${c.cluster.domain}, api.lanPort)` },
  ];
}

const HEADER = '# written by the raibid-ci bootstrap (pulumi up); local edits are overwritten\n';

/** Where the machine is reached; only what the k3s config needs of the stack config. */
export interface K3sHost {
  /** Stack `host`: SSH target and API-server address in the kubeconfig. */
  readonly host: string;
}

/** The content of /etc/rancher/k3s/config.yaml, as an object. */
export function k3sConfig(c: RaibidConfig, target: K3sHost): Record<string, unknown> {
  const sans = [...new Set([target.host, ...(c.cluster.nodeAddress ? [c.cluster.nodeAddress] : [])])];
  return {
    // Root-only: the kubeconfig is an admin credential; bootstrap reads it with sudo.
    'write-kubeconfig-mode': '0600',
    'tls-san': sans,
    ...(c.cluster.nodeAddress ? { 'node-ip': c.cluster.nodeAddress } : {}),
    'https-listen-port': c.network.apiServerPort,
    'cluster-cidr': c.network.podCidr,
    'service-cidr': c.network.serviceCidr,
    disable: [...DISABLED_COMPONENTS],
    'default-local-storage-path': LOCAL_STORAGE_PATH,
    'secrets-encryption': true,
    'node-label': [`${CLUSTER_NODE_LABEL}=${c.cluster.name}`],
    // The same numbers the capacity planner subtracts from the node (src/capacity/allocatable.ts).
    'kubelet-arg': kubeletArgs(c),
  };
}

/** /etc/rancher/k3s/config.yaml as written. */
export function k3sConfigYaml(c: RaibidConfig, target: K3sHost): string {
  return HEADER + stringify(k3sConfig(c, target), { lineWidth: 0 });
}

/**
 * Credentials containerd presents to the Gitea registry. Gitea requires sign-in for everything
 * (REQUIRE_SIGNIN_VIEW), its registry included, so anonymous pulls are refused.
 */
export interface RegistryCredentials {
  /** Gitea user owning the token (the admin, `gitea.admin.username`). */
  readonly username: string;
  /** A Gitea access token with the `read:package` scope. */
  readonly password: string;
}

/** /etc/rancher/k3s/registries.yaml as an object. */
export interface Registries {
  readonly mirrors: Record<string, { endpoint: string[] }>;
  /** Per registry host: the login containerd uses at its endpoints. */
  readonly configs?: Record<string, { auth: RegistryCredentials }>;
}

/**
 * The content of /etc/rancher/k3s/registries.yaml, as an object. Without `auth`: the file the K3s step
 * writes before k3s first starts (Gitea does not run yet). With it: the file the RegistryAuth step keeps
 * up to date once Gitea has issued the pull token.
 */
export function registries(c: RaibidConfig, auth?: RegistryCredentials): Registries {
  const scheme = c.gitea.registry.tls ? 'https' : 'http';
  const mirrors: Record<string, { endpoint: string[] }> = {
    // Plain HTTP on the LAN unless gitea.registry.tls: containerd must be told, or it insists on HTTPS.
    [c.registryHost]: { endpoint: [`${scheme}://${c.registryHost}`] },
  };
  if (c.gitea.registry.dockerHubMirror) mirrors['docker.io'] = { endpoint: [c.gitea.registry.dockerHubMirror] };
  if (!auth) return { mirrors };
  // The key is the host of the mirror's endpoint; containerd logs in there (Gitea's token realm included).
  return { mirrors, configs: { [c.registryHost]: { auth: { username: auth.username, password: auth.password } } } };
}

/** /etc/rancher/k3s/registries.yaml as written; with `auth` it holds a credential (pass it only as a secret). */
export function registriesYaml(c: RaibidConfig, auth?: RegistryCredentials): string {
  return HEADER + stringify(registries(c, auth), { lineWidth: 0 });
}
