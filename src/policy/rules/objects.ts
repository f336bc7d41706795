/**
 * Rules over whole objects: Services, selectors, RBAC, Secrets and credentials, stateful storage.
 */
import { label, selects, type Obj, type Rule } from './context.js';

/** Every Service selects some pod and targets a port the pod declares. */
export const serviceRule: Rule = (ctx, report) => {
  for (const { obj, where } of ctx.objects) {
    if (obj.kind !== 'Service' || !obj.spec?.selector) continue;
    const pods = ctx.pods.filter((t) => t.namespace === obj.metadata.namespace && t.owner.kind !== 'ConfigMap' && selects(obj.spec.selector, t.labels));
    if (pods.length === 0) {
      report('service-selects', where, obj, 'spec.selector', `selects no pod in namespace ${obj.metadata.namespace}`);
      continue;
    }
    (obj.spec.ports ?? []).forEach((p: Record<string, unknown>, i: number) => {
      const target = p.targetPort ?? p.port;
      const declared = pods.some((t) => (t.spec.containers ?? []).some((c: Record<string, any>) => (c.ports ?? []).some((d: Record<string, unknown>) => d.containerPort === target || d.name === target)));
      if (!declared) report('service-selects', where, obj, `spec.ports[${i}].targetPort`, `targets port ${JSON.stringify(target)}, which no selected pod declares`);
    });
  }
};

/** A workload's selector matches its own template. */
export const selectorRule: Rule = (ctx, report) => {
  for (const t of ctx.pods) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(t.owner.kind)) continue;
    const sel = t.owner.spec?.selector?.matchLabels;
    if (!selects(sel, t.labels)) report('workload-selector', t.where, t.owner, 'spec.selector.matchLabels', `does not match the pod template labels ${JSON.stringify(t.labels)}`);
  }
};

const SECRET_READS = new Set(['get', 'list', 'watch', '*']);

/** No wildcards, no cluster-admin, no cluster-wide secret reads, no pods/exec. */
export const rbacRule: Rule = (ctx, report) => {
  for (const { obj, where } of ctx.objects) {
    if (obj.kind === 'Role' || obj.kind === 'ClusterRole') {
      (obj.rules ?? []).forEach((r: Record<string, string[]>, i: number) => {
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'] as const) {
          if ((r[field] ?? []).some((v) => v.includes('*'))) report('rbac', where, obj, `rules[${i}].${field}`, 'wildcards are not allowed; list what is needed');
        }
        const resources = r.resources ?? [];
        if (resources.some((x) => x === 'pods/exec' || x === 'pods/attach')) report('rbac', where, obj, `rules[${i}].resources`, 'pods/exec and pods/attach are not allowed');
        if (obj.kind === 'ClusterRole' && resources.includes('secrets') && (r.verbs ?? []).some((v) => SECRET_READS.has(v))) report('rbac', where, obj, `rules[${i}]`, 'cluster-wide secret reads are not allowed');
      });
    }
    if ((obj.kind === 'RoleBinding' || obj.kind === 'ClusterRoleBinding') && obj.roleRef?.name === 'cluster-admin') report('rbac', where, obj, 'roleRef.name', 'binding cluster-admin is not allowed');
  }
};

/** Patterns that betray a credential written into a manifest. */
const CREDENTIAL_PATTERNS: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, 'a URL with a password'],
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/, 'an AWS access key'],
  [/\b(ghp|gho|ghs|glpat)[-_][A-Za-z0-9_]{20,}/, 'an access token'],
  [/^\s*requirepass\s+\S+/m, 'a Redis password'],
  [/^\s*user\s+\S+.*\s>[^\s]+/m, 'a plain-text Redis ACL password'],
  [/\b(password|passwd|secret|token)\s*[:=]\s*["']?[A-Za-z0-9+/_\-]{12,}/i, 'an assignment of a secret value'],
];

function walkStrings(value: unknown, path: string, visit: (s: string, path: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => walkStrings(v, `${path}[${i}]`, visit));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walkStrings(v, path ? `${path}.${k}` : k, visit);
}

/** No Secret objects, and nothing that looks like a credential anywhere. */
export const secretsRule: Rule = (ctx, report) => {
  for (const { obj, where } of ctx.objects) {
    if (obj.kind === 'Secret') report('no-secrets', where, obj, '', 'Secret objects never go into git; reference the Secret by name and let bootstrap create it');
    walkStrings(obj, '', (s, path) => {
      for (const [re, what] of CREDENTIAL_PATTERNS) if (re.test(s)) report('credential-literal', where, obj, path, `looks like ${what}; credentials come from Secret references`);
    });
  }
};

const PRUNE = 'kustomize.toolkit.fluxcd.io/prune';

function isStateful(ctx: Parameters<Rule>[0], claim: Obj | Record<string, any>, namespace: string | undefined): boolean {
  return namespace === ctx.config.namespaces.infrastructure || claim.spec?.storageClassName === ctx.config.storage.retainClass;
}

/** Stateful claims: Retain storage class and Flux prune disabled; the Retain class exists. */
export const storageRule: Rule = (ctx, report) => {
  const retain = ctx.config.storage.retainClass;
  const check = (claim: Record<string, any>, owner: Obj, where: string, path: string, namespace: string | undefined) => {
    if (!isStateful(ctx, claim, namespace)) return;
    if (claim.spec?.storageClassName !== retain) report('stateful-storage', where, owner, `${path}spec.storageClassName`, `stateful data must use the ${retain} StorageClass (reclaimPolicy Retain)`);
    if (claim.metadata?.annotations?.[PRUNE] !== 'disabled') report('stateful-storage', where, owner, `${path}metadata.annotations`, `stateful claims need ${PRUNE}: disabled so Flux never deletes them`);
  };
  let retainClass: Obj | undefined;
  let needed = false;
  for (const { obj, where } of ctx.objects) {
    if (obj.kind === 'StorageClass' && obj.metadata.name === retain) retainClass = obj;
    if (obj.kind === 'PersistentVolumeClaim') {
      needed ||= isStateful(ctx, obj, obj.metadata.namespace);
      check(obj, obj, where, '', obj.metadata.namespace);
    }
    if (obj.kind === 'StatefulSet') {
      (obj.spec?.volumeClaimTemplates ?? []).forEach((t: Record<string, any>, i: number) => {
        needed = true;
        check(t, obj, where, `spec.volumeClaimTemplates[${i}].`, obj.metadata.namespace);
      });
    }
  }
  if (needed && !retainClass) report('stateful-storage', '-', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: retain } }, '', 'the Retain StorageClass is missing');
  if (retainClass && retainClass.reclaimPolicy !== 'Retain') report('stateful-storage', '-', retainClass, 'reclaimPolicy', `must be Retain, got ${String(retainClass.reclaimPolicy)}`);
  void label;
};
