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
  /** The Kubernetes API server: it runs on the node's host network, so it is an address, not a pod. */
  | { readonly apiServer: true }
  /** Anywhere outside the cluster (internet egress), pod and service ranges excluded. */
  | { readonly internet: true };

export interface Flow {
  readonly peers: readonly Peer[];
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
  readonly ingress?: readonly Flow[];
  /** What these pods may connect to (DNS is always allowed by the namespace's allow-dns policy). */
  readonly egress?: readonly Flow[];
}

function peers(c: RaibidConfig, p: Peer): INetworkPolicyPeer[] {
  const internal = [c.network.podCidr, c.network.serviceCidr];
  if ('lan' in p) {
    return [
      ...c.network.lanCidrs.map((cidr) => ({ ipBlock: { cidr, except: internal.filter((i) => contains(cidr, i)) } })).map(dropEmptyExcept),
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchExpressions: [{ key: 'svccontroller.k3s.cattle.io/svcname', operator: 'Exists' }] } },
    ];
  }
  if ('apiServer' in p) return [{ ipBlock: { cidr: c.cluster.nodeAddress ? `${c.cluster.nodeAddress}/32` : '0.0.0.0/0' } }];
  if ('internet' in p) return [{ ipBlock: { cidr: '0.0.0.0/0', except: [...internal] } }];
  return [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } },
      ...(p.pods ? { podSelector: { matchLabels: { ...p.pods } } } : {}),
    },
  ];
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
  const rules = (flows: readonly Flow[] | undefined) =>
    (flows ?? []).map((f) => ({ peers: f.peers.flatMap((p) => peers(c, p)), ports: f.ports.map((port) => ({ protocol: 'TCP' as const, port })) }));
  const ingress = rules(props.ingress);
  const egress = rules(props.egress);
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
