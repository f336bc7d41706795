/** `storage`, `gitea`, `redis`, `keda`: the stateful platform and its operators. */
import { z } from 'zod';
import { dnsLabel, gibibytes, httpUrl, image, resources } from '../types.js';

export const storageSection = z
  .strictObject({
    retainClass: dnsLabel.default('raibid-retain').describe('StorageClass for stateful data (Gitea, PostgreSQL, Redis): k3s local-path with reclaimPolicy Retain.'),
    cacheClass: dnsLabel.default('local-path').describe('StorageClass for disposable build caches (k3s default, reclaimPolicy Delete).'),
  })
  .prefault({});

export const giteaSection = z
  .strictObject({
    image: image.default('docker.gitea.com/gitea:1.27.3-rootless').describe('Gitea rootless image (multi-arch).'),
    storage: gibibytes.default('100Gi').describe('Size of the Gitea data volume (repositories, packages, LFS).'),
    // Request = limit, as for PostgreSQL and Redis: memory pressure then evicts builds first (a pod using
    // more than it requests goes before any other, whatever its priority; checked in contradictions.ts).
    resources: resources({ cpu: '250m', memory: '1536Mi', memoryLimit: '1536Mi' }),
    admin: z
      .strictObject({
        username: dnsLabel.default('raibid-admin').describe('Admin user created at first start; its password lives in a Secret made by bootstrap.'),
        email: z.email().default('admin@dgx.local').describe('Admin e-mail address.'),
      })
      .prefault({}),
    bot: z
      .strictObject({
        username: dnsLabel.default('raibid-bot').describe('Non-admin user the agents and the API act as (clone, commit status, image push). It cannot push to the GitOps repository: bootstrap protects its branch.'),
        email: z.email().default('bot@dgx.local').describe('Bot e-mail address.'),
      })
      .prefault({}),
    registry: z
      .strictObject({
        tls: z.boolean().default(false).describe('Serve gitea.<domain> over HTTPS. false: plain HTTP on the LAN (k3s is told the registry is insecure). true is refused until raibid-ci provisions a certificate.'),
        dockerHubMirror: httpUrl.optional().describe('Pull-through mirror for docker.io written into k3s registries.yaml. Unset: pull from Docker Hub directly.'),
      })
      .prefault({}),
    postgres: z
      .strictObject({
        image: image.default('docker.io/library/postgres:18.6-alpine3.24').describe('PostgreSQL image (official, multi-arch).'),
        storage: gibibytes.default('20Gi').describe('Size of the PostgreSQL data volume.'),
        resources: resources({ cpu: '100m', memory: '768Mi', memoryLimit: '768Mi' }),
      })
      .prefault({}),
  })
  .prefault({});

export const redisSection = z
  .strictObject({
    image: image.default('docker.io/library/redis:8.10.1-alpine3.23').describe('Redis image (official, ≥ 7.2 for consumer-group lag).'),
    storage: gibibytes.default('10Gi').describe('Size of the Redis data volume (AOF and RDB).'),
    // Request = limit: Redis holds up to maxmemory of queued jobs and must never be evicted for using
    // more than it requests (src/redis/redis.ts checks maxmemory ≤ the request).
    resources: resources({ cpu: '100m', memory: '2Gi', memoryLimit: '2Gi' }),
    maxmemoryPercent: z.number().int().min(10).max(90).default(75).describe('maxmemory as a percentage of the memory limit, leaving room for AOF rewrites and fork copy-on-write.'),
  })
  .prefault({});

export const kedaSection = z
  .strictObject({
    chartVersion: z.string().regex(/^\d+\.\d+\.\d+$/, { error: 'expected an exact chart version such as "2.18.0"' }).default('2.20.2').describe('kedacore/keda Helm chart version, ≥ 2.20.1. Its minor is the KEDA minor it ships (a chart patch may carry an earlier KEDA patch); KEDA 2.20 is tested on Kubernetes 1.33–1.35, and bootstrap installs k3s 1.35.'),
    resources: z
      .strictObject({
        operator: resources({ cpu: '100m', memory: '100Mi', memoryLimit: '512Mi' }).describe('The KEDA operator (runs the scalers; talks to Redis).'),
        metricsServer: resources({ cpu: '100m', memory: '100Mi', memoryLimit: '256Mi' }).describe('The KEDA metrics API server (serves external metrics to the HPA).'),
        webhooks: resources({ cpu: '100m', memory: '100Mi', memoryLimit: '256Mi' }).describe('The KEDA admission webhooks.'),
      })
      .prefault({})
      .describe('Requests and memory limits of the three KEDA deployments, passed to the chart. The request defaults are the chart\'s own (100m / 100Mi each).'),
  })
  .prefault({});

export const networkSection = z
  .strictObject({
    lanCidrs: z
      .array(z.cidrv4({ error: 'expected an IPv4 CIDR such as "192.168.0.0/16"' }))
      .min(1)
      .default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'])
      .describe('Networks allowed to reach Gitea and the API from outside the cluster.'),
    podCidr: z.cidrv4({ error: 'expected an IPv4 CIDR such as "10.42.0.0/16"' }).default('10.42.0.0/16').describe('k3s cluster (pod) CIDR; excluded from the LAN ranges so pods never pass as LAN clients.'),
    serviceCidr: z.cidrv4({ error: 'expected an IPv4 CIDR such as "10.43.0.0/16"' }).default('10.43.0.0/16').describe('k3s service CIDR; excluded from the LAN ranges likewise.'),
    apiServerPort: z.number().int().min(1).max(65535).default(6443).describe('Port of the k3s API server on the node.'),
    internetEgressPorts: z.array(z.number().int().min(1).max(65535)).default([443]).describe('Ports agents may reach on the internet (crates.io, GitHub, package registries).'),
  })
  .prefault({});
