/** `cluster`, `node` and `namespaces`: the machine and the names everything else hangs on. */
import { z } from 'zod';
import { cpu, dnsLabel, dnsName, goDuration, memory } from '../types.js';
import { gitBranchProblem } from '../formats.js';

export const clusterSection = z
  .strictObject({
    name: dnsLabel.default('dgx-spark').describe('Cluster name; the Flux entry point is clusters/<name>/.'),
    domain: dnsName(253 - 'gitea.'.length).default('dgx.local').describe('LAN domain: Gitea is gitea.<domain>, the API ci.<domain>. Labels of at most 63 characters, at most 247 in all (gitea.<domain> must stay a DNS name).'),
    nodeAddress: z
      .ipv4({ error: 'expected an IPv4 address such as "192.168.1.50"' })
      .optional()
      .describe('LAN address of the node (k3s node-ip; added to the TLS SANs). Narrows the API-server NetworkPolicy rule to this host. Unset: the rule admits the API-server port on network.lanCidrs, and the preflight checks the default-route address lies there.'),
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
    memory: memory.default('128Gi').describe('Nominal memory of the node. The capacity plan budgets 10% less (firmware and kernel reservations), and the preflight checks the machine reports at least that much.'),
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
    interval: goDuration.default('10m').describe('How often Flux reconciles each Kustomization (Go duration, more than 0, at most 24h).'),
    retryInterval: goDuration.default('1m').describe('Retry interval after a failed reconciliation.'),
    timeout: goDuration.default('5m').describe('Timeout for apply and health checks.'),
    branch: z
      .string()
      .superRefine((s, ctx) => {
        const problem = gitBranchProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: `expected a git branch name (git check-ref-format --branch), but ${problem}` });
      })
      .default('main')
      .describe('Branch of the in-cluster repository Flux follows; a name git accepts (git check-ref-format --branch).'),
    organization: dnsLabel.default('raibid').describe('Gitea organisation that owns the GitOps repository.'),
    repository: dnsLabel.default('raibid-ci').describe('Name of the GitOps repository in Gitea.'),
  })
  .prefault({});
