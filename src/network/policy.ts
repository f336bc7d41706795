/**
 * Allow-rules on top of each namespace's default deny. Every component declares the flows of its own
 * pods with `allowTraffic`: who may reach them (ingress) and what they may reach (egress).
 */
import type { Construct } from 'constructs';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { RaibidConfig } from '../config/resolve.js';
import { manifest } from '../gitops/component.js';

/** Who is on the other end of a flow. */
export type Peer =
  /** Pods with these labels in a namespace (all pods of the namespace when `pods` is omitted). */
  | { readonly namespace: string; readonly pods?: Readonly<Record<string, string>> }
  /** Clients on the LAN (network.lanCidrs, minus the pod and service ranges), and k3s ServiceLB pods that forward them. */
  | { readonly lan: true }
  /**
   * The Kubernetes API server, egress only. It runs on the node's host network, so it is an address, not
   * a pod. The flow's ports are ignored: the peer allows the kubernetes Service (ClusterIP:443) and the
   * API-server port (`network.apiServerPort`) on the node — `cluster.nodeAddress` when set, else any LAN
   * address (`network.lanCidrs`), the manifests being unable to know the node's address.
   *
   * Not an ingress peer: NetworkPolicy always admits traffic from the pod's own node, and k3s's
   * kube-router accepts any packet from a local address (`--src-type LOCAL`) before the policy rules, so
   * the API server (webhooks, aggregated APIs) and the kubelet (probes) need no rule.
   */
  | { readonly apiServer: true }
  /** Public addresses (internet egress): the pod and service ranges and the LAN are excluded. */
  | { readonly internet: true };

/** Peers that may open connections to pods (the API server cannot be named: see its peer). */
export type IngressPeer = Exclude<Peer, { readonly apiServer: true }>;

export interface Flow<P extends Peer = Peer> {
  readonly peers: readonly P[];
  /** TCP ports (numbers) on the receiving side. */
  readonly ports: readonly number[];
}

export interface AllowTrafficProps {
  readonly config: RaibidConfig;
  /** Policy name, e.g. `gitea`. */
  readonly name: string;
  readonly namespace: string;
  /** Labels of the pods this policy is about (must match some pod). */
  readonly pods: Readonly<Record<string, string>>;
  /** Who may connect to these pods. */
  readonly ingress?: readonly Flow<IngressPeer>[];
  /** What these pods may connect to (DNS is always allowed by the namespace's allow-dns policy). */
  readonly egress?: readonly Flow[];
}

interface Rule {
  readonly peers: INetworkPolicyPeer[];
  readonly ports: readonly number[];
}

/** LAN addresses (network.lanCidrs), without the pod and service ranges. */
function lanBlocks(c: RaibidConfig): INetworkPolicyPeer[] {
  const internal = [c.network.podCidr, c.network.serviceCidr];
  return c.network.lanCidrs.map((cidr) => dropEmptyExcept({ ipBlock: { cidr, except: internal.filter((i) => contains(cidr, i)) } }));
}

/**
 * Where the API server listens: the node's address when configured, else the LAN (the bootstrap
 * preflight checks that the address k3s picks lies in `network.lanCidrs`).
 */
export function apiServerBlocks(c: RaibidConfig): INetworkPolicyPeer[] {
  return c.cluster.nodeAddress ? [{ ipBlock: { cidr: `${c.cluster.nodeAddress}/32` } }] : lanBlocks(c);
}

/** The `kubernetes` Service: the first address of the service range (10.43.0.1 on k3s). */
export function kubernetesServiceIp(serviceCidr: string): string {
  const [base] = serviceCidr.split('/');
  const n = (toInt(base) + 1) >>> 0;
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}

/** NetworkPolicy rules for one flow in one direction. */
function flowRules(c: RaibidConfig, f: Flow, direction: 'ingress' | 'egress'): Rule[] {
  const internal = [c.network.podCidr, c.network.serviceCidr];
  const plain: INetworkPolicyPeer[] = [];
  const extra: Rule[] = [];
  for (const p of f.peers) {
    if ('lan' in p) {
      plain.push(
        ...lanBlocks(c),
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchExpressions: [{ key: 'svccontroller.k3s.cattle.io/svcname', operator: 'Exists' }] } },
      );
    } else if ('apiServer' in p) {
      if (direction === 'ingress') {
        throw new Error("allowTraffic: 'apiServer' is an egress peer only; traffic from the node (API server, kubelet) to a pod needs no rule");
      }
      // Pods reach the API server through the kubernetes Service (ClusterIP:443), which kube-proxy
      // rewrites (DNAT, before any filter) to the node's API-server port: kube-router matches egress
      // against that rewritten address, so the node rule is the one that admits it on k3s; the Service
      // rule serves implementations that match before the rewrite. Both, whatever the flow's ports say.
      extra.push({ peers: apiServerBlocks(c), ports: [c.network.apiServerPort] });
      extra.push({ peers: [{ ipBlock: { cidr: `${kubernetesServiceIp(c.network.serviceCidr)}/32` } }], ports: [443] });
    } else if ('internet' in p) {
      // Public addresses only: neither the cluster's ranges nor the LAN.
      const except = [...c.network.lanCidrs, ...internal.filter((i) => !c.network.lanCidrs.some((l) => contains(l, i)))];
      plain.push({ ipBlock: { cidr: '0.0.0.0/0', except } });
    } else {
      plain.push({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } }, ...(p.pods ? { podSelector: { matchLabels: { ...p.pods } } } : {}) });
    }
  }
  return [...(plain.length ? [{ peers: plain, ports: f.ports }] : []), ...extra];
}

function dropEmptyExcept(peer: INetworkPolicyPeer): INetworkPolicyPeer {
  return peer.ipBlock && peer.ipBlock.except?.length === 0 ? { ipBlock: { cidr: peer.ipBlock.cidr } } : peer;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** True when CIDR `outer` contains CIDR `inner`. */
export function contains(outer: string, inner: string): boolean {
  const [oa, ob] = outer.split('/');
  const [ia, ib] = inner.split('/');
  const obits = Number(ob);
  if (Number(ib) < obits) return false;
  const mask = obits === 0 ? 0 : (~0 << (32 - obits)) >>> 0;
  return ((toInt(oa) & mask) >>> 0) === ((toInt(ia) & mask) >>> 0);
}

/** One NetworkPolicy allowing exactly the given flows for the selected pods. */
export function allowTraffic(scope: Construct, id: string, props: AllowTrafficProps): void {
  const c = props.config;
  const rules = (flows: readonly Flow[] | undefined, direction: 'ingress' | 'egress') =>
    (flows ?? []).flatMap((f) => flowRules(c, f, direction)).map((r) => ({ peers: r.peers, ports: r.ports.map((port) => ({ protocol: 'TCP' as const, port })) }));
  const ingress = rules(props.ingress, 'ingress');
  const egress = rules(props.egress, 'egress');
  if (ingress.length === 0 && egress.length === 0) throw new Error(`allowTraffic ${props.name}: give ingress or egress flows`);
  manifest<INetworkPolicy>(scope, id, {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: props.name, namespace: props.namespace },
    spec: {
      podSelector: { matchLabels: { ...props.pods } },
      policyTypes: [...(ingress.length ? (['Ingress'] as const) : []), ...(egress.length ? (['Egress'] as const) : [])],
      ...(ingress.length ? { ingress: ingress.map((r) => ({ from: r.peers, ports: r.ports })) } : {}),
      ...(egress.length ? { egress: egress.map((r) => ({ to: r.peers, ports: r.ports })) } : {}),
    },
  });
}
