/**
 * The namespaces the stack owns, each with Pod Security Standards labels and a default-deny
 * NetworkPolicy that still lets every pod resolve names through kube-dns.
 */
import type { Construct } from 'constructs';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ComponentChart, manifest, type ComponentChartProps } from '../gitops/component.js';
import { exceptionFor } from '../policy/exceptions.js';
import { POD_SECURITY_VERSION } from '../versions.js';
import { componentLabels } from '../labels.js';

/** Name of the default-deny policy in every owned namespace. */
export const DEFAULT_DENY_POLICY = 'default-deny';
/** Name of the DNS egress policy in every owned namespace. */
export const DNS_POLICY = 'allow-dns';

/** Pod Security labels for a level, pinned to a version; audit and warn always at restricted. */
export function podSecurityLabels(enforce: string): Record<string, string> {
  return {
    'pod-security.kubernetes.io/enforce': enforce,
    'pod-security.kubernetes.io/enforce-version': POD_SECURITY_VERSION,
    'pod-security.kubernetes.io/audit': 'restricted',
    'pod-security.kubernetes.io/audit-version': POD_SECURITY_VERSION,
    'pod-security.kubernetes.io/warn': 'restricted',
    'pod-security.kubernetes.io/warn-version': POD_SECURITY_VERSION,
  };
}

/** Every namespace raibid-ci owns, in a stable order. */
export function ownedNamespaces(c: ComponentChartProps['config']): string[] {
  const n = c.namespaces;
  return [...new Set([n.infrastructure, n.ci, n.monitoring, n.keda, ...(c.buildkit.enabled ? [n.buildkit] : []), n.images])];
}

/** Namespaces (controllers layer; bootstrap applies them before Flux). */
export class Namespaces extends ComponentChart {
  /** Names of the namespaces created. */
  readonly names: readonly string[];

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: true });
    const c = props.config;
    this.names = ownedNamespaces(c);
    for (const name of this.names) {
      const level = exceptionFor(c, name)?.enforce ?? 'restricted';
      manifest<INamespace>(this, `ns-${name}`, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { ...componentLabels(name, 'namespace'), ...podSecurityLabels(level) } },
      });
    }
    for (const namespace of this.names) {
      manifest<INetworkPolicy>(this, `deny-${namespace}`, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: DEFAULT_DENY_POLICY, namespace },
        spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      });
      manifest<INetworkPolicy>(this, `dns-${namespace}`, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: DNS_POLICY, namespace },
        spec: {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [
            {
              to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'TCP', port: 53 },
              ],
            },
          ],
        },
      });
    }
  }
}
