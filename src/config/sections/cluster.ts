/** `cluster`, `node` and `namespaces`: the machine and the names everything else hangs on. */
import { z } from 'zod';
import { cpu, dnsLabel, dnsName, memory } from '../types.js';

export const clusterSection = z
  .strictObject({
    name: dnsLabel.default('dgx-spark').describe('Cluster name; the Flux entry point is clusters/<name>/.'),
    domain: dnsName.default('dgx.local').describe('LAN domain: Gitea is gitea.<domain>, the API ci.<domain>.'),
    nodeAddress: z
      .ipv4({ error: 'expected an IPv4 address such as "192.168.1.50"' })
      .optional()
      .describe('LAN address of the node. Narrows the API-server NetworkPolicy rule to this host and is added to the k3s TLS SANs. Unset: the rule allows the API-server port on any address.'),
  })
  .prefault({});

const reservation = (d: { cpu: string; memory: string }) =>
  z
    .strictObject({
      cpu: cpu.default(d.cpu).describe('CPU held back from pods.'),
      memory: memory.default(d.memory).describe('Memory held back from pods.'),
    })
    .prefault({});

export const nodeSection = z
  .strictObject({
    arch: z.enum(['arm64', 'amd64']).default('arm64').describe('CPU architecture of the node; images must exist for it.'),
    cpu: z.number().int().min(2).max(1024).default(20).describe('CPU cores of the node.'),
    memory: memory.default('128Gi').describe('Nominal memory of the node. The capacity plan budgets 7% less (firmware and kernel reservations), and the preflight checks the machine reports at least that much.'),
    disk: memory.default('3Ti').describe('Free disk the node must have for k3s local-path volumes (a 4 TB drive holds about 3.6 TiB; preflight checks it).'),
    systemReserved: reservation({ cpu: '1', memory: '4Gi' }).describe('kubelet system-reserved: the OS and its daemons.'),
    kubeReserved: reservation({ cpu: '1', memory: '2Gi' }).describe('kubelet kube-reserved: k3s itself (API server, kubelet, containerd).'),
    evictionHard: memory.default('500Mi').describe('kubelet eviction threshold memory.available; also subtracted from allocatable.'),
  })
  .prefault({});

export const namespacesSection = z
  .strictObject({
    ci: dnsLabel.default('ci').describe('Agents, the API and build caches.'),
    infrastructure: dnsLabel.default('infrastructure').describe('Gitea, PostgreSQL and Redis.'),
    monitoring: dnsLabel.default('monitoring').describe('Monitoring.'),
    keda: dnsLabel.default('keda').describe('The KEDA operator.'),
    buildkit: dnsLabel.default('buildkit').describe('The rootless BuildKit daemon (its own Pod Security exception).'),
    images: dnsLabel.default('images').describe('The Jobs that build raibid-ci\'s own images (restricted; they drive the BuildKit daemon).'),
  })
  .prefault({});

export const fluxSection = z
  .strictObject({
    interval: z.string().regex(/^\d+[smh]$/).default('10m').describe('How often Flux reconciles each Kustomization.'),
    retryInterval: z.string().regex(/^\d+[smh]$/).default('1m').describe('Retry interval after a failed reconciliation.'),
    timeout: z.string().regex(/^\d+[smh]$/).default('5m').describe('Timeout for apply and health checks.'),
    branch: z.string().min(1).default('main').describe('Branch of the in-cluster repository Flux follows.'),
    organization: dnsLabel.default('raibid').describe('Gitea organisation that owns the GitOps repository.'),
    repository: dnsLabel.default('raibid-ci').describe('Name of the GitOps repository in Gitea.'),
  })
  .prefault({});
