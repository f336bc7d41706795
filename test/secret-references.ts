/**
 * Finds every Secret a set of Kubernetes objects refers to, as (namespace, name, key) — key `*` when the
 * whole Secret is consumed (envFrom, a volume without items, a Flux source's credentials, …).
 *
 * Covered: env valueFrom.secretKeyRef, envFrom.secretRef, volumes[].secret (+ items), projected
 * sources[].secret (+ items), imagePullSecrets, ServiceAccount secrets, KEDA (Cluster)TriggerAuthentication
 * secretTargetRef, any `secretRef: { name }` (Flux sources, Kustomization decryption and kubeConfig,
 * notification Providers and Receivers, …), HelmRelease valuesFrom of kind Secret, and any other
 * `secretName` string (Ingress TLS, …).
 */
export interface SecretReference {
  readonly namespace: string;
  readonly name: string;
  /** A key, or `*` for the whole Secret. */
  readonly key: string;
  /** Where it was found: `Kind/namespace/name: path`. */
  readonly where: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * @param objects cluster objects
 * @param clusterScopedNamespace namespace of the Secrets that cluster-scoped objects refer to
 *   (ClusterTriggerAuthentication reads Secrets from KEDA's namespace)
 */
export function secretReferences(objects: readonly Obj[], clusterScopedNamespace: string): SecretReference[] {
  const refs: SecretReference[] = [];
  for (const o of objects) {
    const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
    const namespace = meta.namespace ?? clusterScopedNamespace;
    const label = `${String(o.kind)}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
    const add = (name: unknown, key: unknown, path: string) => {
      if (typeof name === 'string' && name !== '') refs.push({ namespace, name, key: typeof key === 'string' && key !== '' ? key : '*', where: `${label}: ${path}` });
    };
    const withItems = (name: unknown, items: unknown, path: string) => {
      if (Array.isArray(items) && items.length > 0) items.forEach((it, i) => add(name, isObj(it) ? it.key : undefined, `${path}.items[${i}]`));
      else add(name, undefined, path);
    };
    const walk = (v: unknown, path: string, parentKey: string): void => {
      if (Array.isArray(v)) {
        v.forEach((x, i) => walk(x, `${path}[${i}]`, parentKey));
        return;
      }
      if (!isObj(v)) return;
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (k === 'secretKeyRef' && isObj(x)) add(x.name, x.key, p);
        else if (k === 'secretRef' && isObj(x)) add(x.name, undefined, p);
        else if (k === 'secretTargetRef' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && add(t.name, t.key, `${p}[${i}]`));
        else if (k === 'imagePullSecrets' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && add(t.name, undefined, `${p}[${i}]`));
        // volumes[].secret (secretName) and projected sources[].secret (name)
        else if (k === 'secret' && isObj(x) && (typeof x.secretName === 'string' || (typeof x.name === 'string' && parentKey === 'sources'))) withItems(x.secretName ?? x.name, x.items, p);
        else if (k === 'secretName' && typeof x === 'string') add(x, undefined, p);
        else if (k === 'valuesFrom' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && t.kind === 'Secret' && add(t.name, t.valuesKey ?? 'values.yaml', `${p}[${i}]`));
        else if (k === 'secrets' && o.kind === 'ServiceAccount' && path === '' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && add(t.name, undefined, `${p}[${i}]`));
        else walk(x, p, k);
      }
    };
    walk(o, '', '');
  }
  return refs;
}
