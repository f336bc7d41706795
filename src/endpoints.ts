/**
 * Names and ports other components reach each other by. One place, so a NetworkPolicy, a URL in an
 * env var and the Service itself can never disagree.
 */
import type { RaibidConfig } from './config/resolve.js';
import { WEBHOOK_ROUTE } from './api/contract.js';

export const GITEA_HTTP_SERVICE = 'gitea-http';
export const GITEA_SSH_SERVICE = 'gitea-ssh';
export const GITEA_HTTP_PORT = 3000;
export const GITEA_SSH_PORT = 2222;
/** Gitea's LoadBalancer Service for the LAN (k3s ServiceLB); `gitea.<domain>` resolves to it in the cluster too. */
export const GITEA_LAN_SERVICE = 'gitea';
/** Node ports of Gitea's LAN Service (k3s ServiceLB binds them on the node): HTTP and SSH. */
export const GITEA_LAN_HTTP_PORT = 80;
export const GITEA_LAN_SSH_PORT = 2222;
/** Ports k3s itself serves on every node address besides the API server (network.apiServerPort): the kubelet API and kube-proxy's health check. */
export const K3S_NODE_PORTS: readonly { readonly port: number; readonly use: string }[] = [
  { port: 10250, use: 'the kubelet API' },
  { port: 10256, use: "kube-proxy's health check" },
];
export const POSTGRES_SERVICE = 'gitea-postgres';
export const POSTGRES_PORT = 5432;
export const REDIS_SERVICE = 'redis';
export const REDIS_PORT = 6379;
export const API_SERVICE = 'raibid-api';
export const API_SERVICE_PORT = 80;
export const API_LAN_SERVICE = 'raibid-api-lan';
/** Path of the API that Gitea posts webhooks to (the API server's route, src/api/contract.ts). */
export const WEBHOOK_PATH = WEBHOOK_ROUTE;
export const BUILDKIT_SERVICE = 'buildkitd';
export const BUILDKIT_PORT = 1234;

/** `name.namespace.svc.cluster.local` */
export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** In-cluster Gitea base URL. */
export function giteaInternalUrl(c: RaibidConfig): string {
  return `http://${serviceHost(GITEA_HTTP_SERVICE, c.namespaces.infrastructure)}:${GITEA_HTTP_PORT}`;
}

/** Gitea's public URL on the LAN (also its ROOT_URL, which the registry's auth realm is built from). */
export function giteaPublicUrl(c: RaibidConfig): string {
  return `${c.gitea.registry.tls ? 'https' : 'http'}://${c.registryHost}/`;
}

/** In-cluster Redis URL (no credentials: those come from Secrets). */
export function redisInternalAddress(c: RaibidConfig): string {
  return `${serviceHost(REDIS_SERVICE, c.namespaces.infrastructure)}:${REDIS_PORT}`;
}

/** Clone URL of the GitOps repository inside the cluster (Flux's source). */
export function gitopsRepoUrl(c: RaibidConfig): string {
  return `${giteaInternalUrl(c)}/${c.flux.organization}/${c.flux.repository}.git`;
}

/** In-cluster base URL of the webhook API (Gitea delivers webhooks here). */
export function apiInternalUrl(c: RaibidConfig): string {
  return `http://${serviceHost(API_SERVICE, c.namespaces.ci)}${API_SERVICE_PORT === 80 ? '' : `:${API_SERVICE_PORT}`}/`;
}

/** The URL Gitea's webhooks are registered with (in-cluster; the API verifies their HMAC). */
export function apiWebhookUrl(c: RaibidConfig): string {
  return `${apiInternalUrl(c).replace(/\/$/, '')}${WEBHOOK_PATH}`;
}

/** The API's address on the LAN, `http://ci.<domain>:<api.lanPort>/`. */
export function apiPublicUrl(c: RaibidConfig): string {
  return `http://ci.${c.cluster.domain}${c.api.lanPort === 80 ? '' : `:${c.api.lanPort}`}/`;
}

/** buildctl address of the BuildKit daemon (BUILDKIT_HOST). */
export function buildkitAddress(c: RaibidConfig): string {
  return `tcp://${serviceHost(BUILDKIT_SERVICE, c.namespaces.buildkit)}:${BUILDKIT_PORT}`;
}
