/**
 * Namespace rules: Pod Security labels, default-deny NetworkPolicies with DNS egress, policies that
 * cover every pod and select some pod, and egress to the API server's port only towards the node.
 */
import { apiServerBlocks } from '../../network/policy.js';
import { exceptionFor } from '../exceptions.js';
import { selects, type Obj, type Rule } from './context.js';

const PSS = 'pod-security.kubernetes.io/';

/** Every Namespace enforces restricted (or its allowlisted level), pinned to a version. */
export const namespaceLabelRule: Rule = (ctx, report) => {
  for (const { obj, where } of ctx.objects) {
    if (obj.kind !== 'Namespace') continue;
    const labels = obj.metadata.labels ?? {};
    const expected = exceptionFor(ctx.config, obj.metadata.name)?.enforce ?? 'restricted';
    if (labels[`${PSS}enforce`] !== expected) report('namespace-pss', where, obj, `metadata.labels["${PSS}enforce"]`, `must be ${expected}${expected === 'restricted' ? ' (exceptions live in src/policy/exceptions.ts)' : ''}, got ${labels[`${PSS}enforce`] ?? 'nothing'}`);
    const version = labels[`${PSS}enforce-version`];
    if (!version || version === 'latest') report('namespace-pss', where, obj, `metadata.labels["${PSS}enforce-version"]`, `must pin a version such as v1.33, got ${version ?? 'nothing'}`);
  }
};

function isDefaultDeny(p: Obj): boolean {
  const s = p.spec ?? {};
  return Object.keys(s.podSelector ?? {}).length === 0 && ['Ingress', 'Egress'].every((t) => (s.policyTypes ?? []).includes(t)) && !(s.ingress?.length) && !(s.egress?.length);
}

function allowsDns(p: Obj): boolean {
  const s = p.spec ?? {};
  return Object.keys(s.podSelector ?? {}).length === 0 && (s.egress ?? []).some((e: Record<string, any>) => (e.ports ?? []).some((port: Record<string, unknown>) => port.port === 53 && port.protocol === 'UDP'));
}

/** Pod selector match, including matchExpressions with In / Exists. */
function podSelectorMatches(selector: Record<string, any> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  if (selector.matchLabels && !selects(selector.matchLabels, labels)) return false;
  return (selector.matchExpressions ?? []).every((e: { key: string; operator: string; values?: string[] }) => {
    if (e.operator === 'Exists') return e.key in labels;
    if (e.operator === 'DoesNotExist') return !(e.key in labels);
    if (e.operator === 'In') return (e.values ?? []).includes(labels[e.key]);
    if (e.operator === 'NotIn') return !(e.values ?? []).includes(labels[e.key]);
    return false;
  });
}

/** Default deny + DNS in every namespace; every pod covered; every policy selects some pod. */
export const networkPolicyRule: Rule = (ctx, report) => {
  const policies = ctx.objects.filter(({ obj }) => obj.kind === 'NetworkPolicy');
  const inNs = (ns: string | undefined) => policies.filter(({ obj }) => obj.metadata.namespace === ns).map(({ obj }) => obj);
  for (const { obj, where } of ctx.objects) {
    if (obj.kind !== 'Namespace') continue;
    const own = inNs(obj.metadata.name);
    if (!own.some(isDefaultDeny)) report('network-default-deny', where, obj, '', 'needs a NetworkPolicy that denies all ingress and egress by default (podSelector {}, no rules)');
    if (!own.some(allowsDns)) report('network-default-deny', where, obj, '', 'needs a NetworkPolicy that lets every pod reach kube-dns on port 53');
  }
  for (const t of ctx.pods) {
    if (!inNs(t.namespace).some((p) => podSelectorMatches(p.spec?.podSelector, t.labels))) report('network-coverage', t.where, t.owner, `${t.path}`, `no NetworkPolicy in namespace ${t.namespace ?? '(none)'} covers this pod`);
  }
  // Charts installed by HelmRelease bring pods the validator cannot see; policies there are not checked for a match.
  const helmNamespaces = new Set(ctx.objects.filter(({ obj }) => obj.kind === 'HelmRelease').map(({ obj }) => obj.spec?.targetNamespace ?? obj.metadata.namespace));
  for (const { obj, where } of policies) {
    const sel = obj.spec?.podSelector ?? {};
    if (Object.keys(sel).length === 0 || helmNamespaces.has(obj.metadata.namespace)) continue;
    const hit = ctx.pods.some((t) => t.namespace === obj.metadata.namespace && podSelectorMatches(sel, t.labels));
    if (!hit) report('network-selects', where, obj, 'spec.podSelector', `selects no pod in namespace ${obj.metadata.namespace}`);
  }
};

/** `cidr` + `except` of an ipBlock, order-independent. */
function blockKey(b: { cidr?: string; except?: string[] } | undefined): string {
  return b ? `${b.cidr} except ${[...(b.except ?? [])].sort().join(',')}` : '';
}

/**
 * No egress rule admits the API server's port (`network.apiServerPort`) anywhere but on the node:
 * `cluster.nodeAddress` when set, else the LAN (src/network/policy.ts, `apiServerBlocks`). Pod peers
 * are pods, not the node, and are not concerned; a rule without `to`, or an ipBlock elsewhere, is.
 */
export const apiServerEgressRule: Rule = (ctx, report) => {
  const port = ctx.config.network.apiServerPort;
  const allowed = apiServerBlocks(ctx.config).map((p) => blockKey(p.ipBlock));
  const admits = (ports: Record<string, any>[] | undefined) =>
    !ports?.length || ports.some((p) => (p.protocol ?? 'TCP') === 'TCP' && (p.port === undefined || p.port === port || (typeof p.port === 'number' && typeof p.endPort === 'number' && p.port <= port && port <= p.endPort)));
  for (const { obj, where } of ctx.objects) {
    if (obj.kind !== 'NetworkPolicy') continue;
    (obj.spec?.egress ?? []).forEach((rule: Record<string, any>, i: number) => {
      if (!admits(rule.ports)) return;
      const to: Record<string, any>[] = rule.to ?? [];
      if (to.length === 0) report('network-api-server', where, obj, `spec.egress[${i}]`, `admits port ${port} (the API server) to any destination; only the node may be reached on it: use the apiServer peer`);
      to.forEach((peer, j) => {
        if (peer.ipBlock && !allowed.includes(blockKey(peer.ipBlock))) {
          report('network-api-server', where, obj, `spec.egress[${i}].to[${j}].ipBlock`, `admits port ${port} (the API server) on ${blockKey(peer.ipBlock).replace(/ except $/, '')}; only the node may be reached on it (${allowed.join('; ')})`);
        }
      });
    });
  }
};
