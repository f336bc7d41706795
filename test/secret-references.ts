/**
 * Finds every Secret key a set of Kubernetes objects reads, as (namespace, name, key), and compares that
 * key-exactly with the Secrets bootstrap creates.
 *
 * A key is named by the reference itself (env valueFrom.secretKeyRef, volume and projected `items`, a
 * `subPath` mount, KEDA secretTargetRef, HelmRelease valuesFrom) or fixed by the consumer's API (a Flux
 * GitRepository over HTTP(S) reads `username` and `password`, over SSH `identity` and `known_hosts`; an
 * imagePullSecret `.dockerconfigjson`; Ingress TLS `tls.crt` and `tls.key`).
 *
 * A whole Secret mounted as a directory is read file by file: its keys are the files under the mount path
 * that the container names — in an env value (`GITEA__…_URI=file:/etc/gitea-secrets/secret-key`,
 * `POSTGRES_PASSWORD_FILE=/etc/gitea-postgres/password`), its command or args, or a script it runs from a
 * mounted ConfigMap (`"$users_dir/api-password"`, with `users_dir="${VAR:-/etc/redis-users}"` resolved).
 *
 * What cannot be derived is reported, never assumed satisfied: envFrom (every key becomes a variable; the
 * ones the program reads are not in the manifest), a mounted Secret none of whose files is named, any other
 * whole-Secret `secretRef` or `secretName`.
 */
export interface SecretReference {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  /** Where it was found: `Kind/namespace/name: path`. */
  readonly where: string;
}

/** A reference to a Secret whose keys cannot be derived from the manifests. */
export interface UnresolvedReference {
  readonly namespace: string;
  readonly name: string;
  readonly where: string;
  readonly problem: string;
}

export interface SecretScan {
  readonly refs: readonly SecretReference[];
  readonly unresolved: readonly UnresolvedReference[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Keys a Flux GitRepository reads from its `secretRef`, by URL scheme (fluxcd.io GitRepository docs, "Secret reference"). */
export const GIT_REPOSITORY_KEYS: Readonly<Record<'http' | 'ssh', readonly string[]>> = { http: ['username', 'password'], ssh: ['identity', 'known_hosts'] };

/** A Secret key is made of these characters (Kubernetes validation of Secret data keys). */
const KEY = '[-._a-zA-Z0-9]+';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Resolves shell variables that hold a directory: `name="${OVERRIDE:-/dir}"`, `name=/dir` and the
 * container's own env values, so `"$name/key"` and `${name}/key` read as `/dir/key`.
 */
function resolveVariables(text: string, env: ReadonlyMap<string, string>): string {
  const vars = new Map(env);
  for (const m of text.matchAll(/(?:^|[\s;])([A-Za-z_]\w*)="?(?:\$\{\w+:-(\/[^}"\s]*)\}|(\/[^"\s;]*))"?/g)) vars.set(m[1], m[2] ?? m[3]);
  let out = text;
  for (const [name, value] of vars) if (value.startsWith('/')) out = out.replace(new RegExp(`\\$(?:\\{${name}\\}|${name}(?!\\w))`, 'g'), value);
  return out;
}

/** Files directly under `dir` that a text names. */
function filesUnder(dir: string, text: string): string[] {
  const re = new RegExp(`(?<![\\w./-])${escape(dir.replace(/\/+$/, ''))}/(${KEY})`, 'g');
  return [...text.matchAll(re)].map((m) => m[1]);
}

/**
 * @param objects cluster objects
 * @param clusterScopedNamespace namespace of the Secrets that cluster-scoped objects refer to
 *   (ClusterTriggerAuthentication reads Secrets from KEDA's namespace)
 */
export function scanSecretReferences(objects: readonly Obj[], clusterScopedNamespace: string): SecretScan {
  const refs: SecretReference[] = [];
  const unresolved: UnresolvedReference[] = [];
  const configMaps = new Map<string, Obj>();
  for (const o of objects) {
    const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
    if (o.kind === 'ConfigMap') configMaps.set(`${meta.namespace}/${meta.name}`, isObj(o.data) ? o.data : {});
  }

  for (const o of objects) {
    const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
    const namespace = meta.namespace ?? clusterScopedNamespace;
    const label = `${String(o.kind)}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
    const add = (name: unknown, key: string, path: string) => {
      const n = str(name);
      if (n) refs.push({ namespace, name: n, key, where: `${label}: ${path}` });
    };
    const unknown = (name: unknown, path: string, problem: string) => {
      const n = str(name);
      if (n) unresolved.push({ namespace, name: n, where: `${label}: ${path}`, problem });
    };

    /** A pod spec: volumes are resolved against the containers that mount them. */
    const podSpec = (spec: Obj, path: string) => {
      const containers = [...list(spec.initContainers), ...list(spec.containers), ...list(spec.ephemeralContainers)].filter(isObj);
      const containerPath = (c: Obj) => {
        for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
          const i = list(spec[field]).indexOf(c);
          if (i >= 0) return `${path}.${field}[${i}]`;
        }
        return path;
      };
      // The texts a container runs: command, args, env values and the ConfigMap scripts it runs by path.
      const texts = (c: Obj): string => {
        const env = new Map<string, string>();
        for (const e of list(c.env)) if (isObj(e) && str(e.name) && typeof e.value === 'string') env.set(e.name as string, e.value);
        const words = [...list(c.command), ...list(c.args)].filter((w): w is string => typeof w === 'string');
        const scripts: string[] = [];
        for (const m of list(c.volumeMounts).filter(isObj)) {
          const volume = list(spec.volumes).find((v) => isObj(v) && v.name === m.name) as Obj | undefined;
          const cm = volume && isObj(volume.configMap) ? volume.configMap : undefined;
          const data = cm ? configMaps.get(`${namespace}/${cm.name}`) : undefined;
          if (!data || typeof m.mountPath !== 'string') continue;
          const items = list(cm!.items).filter(isObj);
          for (const file of words.flatMap((w) => filesUnder(m.mountPath as string, w))) {
            const key = items.length ? str(items.find((it) => it.path === file)?.key) : file;
            if (key && typeof data[key] === 'string') scripts.push(data[key] as string);
          }
        }
        return [...words, ...env.values(), ...scripts].map((t) => resolveVariables(t, env)).join('\n');
      };

      list(spec.volumes).forEach((v, vi) => {
        if (!isObj(v)) return;
        const sources: { name: unknown; items: unknown; path: string }[] = [];
        if (isObj(v.secret)) sources.push({ name: v.secret.secretName, items: v.secret.items, path: `${path}.volumes[${vi}].secret` });
        if (isObj(v.projected)) {
          list(v.projected.sources).forEach((s, si) => {
            if (isObj(s) && isObj(s.secret)) sources.push({ name: s.secret.name, items: s.secret.items, path: `${path}.volumes[${vi}].projected.sources[${si}].secret` });
          });
        }
        for (const s of sources) {
          const items = list(s.items).filter(isObj);
          if (items.length) {
            items.forEach((it, i) => add(s.name, String(it.key), `${s.path}.items[${i}]`));
            continue;
          }
          // The whole Secret as a directory: the keys are the files the mounting containers name.
          let mounted = false;
          let found = 0;
          for (const c of containers) {
            list(c.volumeMounts).forEach((m, mi) => {
              if (!isObj(m) || m.name !== v.name || typeof m.mountPath !== 'string') return;
              mounted = true;
              const where = `${containerPath(c)}.volumeMounts[${mi}]`;
              if (str(m.subPath)) {
                add(s.name, m.subPath as string, `${where}.subPath`);
                found++;
                return;
              }
              for (const key of new Set(filesUnder(m.mountPath, texts(c)))) {
                add(s.name, key, `${where} (${m.mountPath}/${key})`);
                found++;
              }
            });
          }
          if (!mounted) unknown(s.name, s.path, 'the volume is mounted by no container');
          else if (!found) unknown(s.name, s.path, 'mounted as a directory, but no container names a file of it (in env, command, args or a mounted script); name the files, or use items or secretKeyRef');
        }
      });
      list(spec.imagePullSecrets).forEach((t, i) => isObj(t) && add(t.name, '.dockerconfigjson', `${path}.imagePullSecrets[${i}]`));
      for (const c of containers) {
        const cp = containerPath(c);
        list(c.env).forEach((e, i) => {
          const ref = isObj(e) && isObj(e.valueFrom) && isObj(e.valueFrom.secretKeyRef) ? e.valueFrom.secretKeyRef : undefined;
          if (ref) add(ref.name, String(ref.key), `${cp}.env[${i}].valueFrom.secretKeyRef`);
        });
        list(c.envFrom).forEach((e, i) => {
          if (isObj(e) && isObj(e.secretRef)) unknown(e.secretRef.name, `${cp}.envFrom[${i}].secretRef`, 'envFrom turns every key into a variable, so the keys the program reads are not in the manifest; use env[].valueFrom.secretKeyRef per key');
        });
      }
    };

    const walk = (v: unknown, path: string): void => {
      if (Array.isArray(v)) {
        v.forEach((x, i) => walk(x, `${path}[${i}]`));
        return;
      }
      if (!isObj(v)) return;
      if (Array.isArray(v.containers)) {
        podSpec(v, path);
        return;
      }
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (k === 'secretTargetRef' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && add(t.name, String(t.key), `${p}[${i}]`));
        else if (k === 'valuesFrom' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && t.kind === 'Secret' && add(t.name, str(t.valuesKey) ?? 'values.yaml', `${p}[${i}]`));
        else if (k === 'secretRef' && isObj(x) && o.kind === 'GitRepository' && p === 'spec.secretRef') {
          const url = String((o.spec as Obj).url ?? '');
          const keys = /^https?:\/\//.test(url) ? GIT_REPOSITORY_KEYS.http : /^ssh:\/\//.test(url) ? GIT_REPOSITORY_KEYS.ssh : undefined;
          if (keys) keys.forEach((key) => add(x.name, key, p));
          else unknown(x.name, p, `GitRepository URL ${JSON.stringify(url)} is neither HTTP(S) nor SSH`);
        } else if (k === 'secretRef' && isObj(x)) unknown(x.name, p, 'a whole-Secret reference whose keys this scanner does not know; teach test/secret-references.ts the keys its consumer reads');
        else if (k === 'tls' && o.kind === 'Ingress' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && ['tls.crt', 'tls.key'].forEach((key) => add(t.secretName, key, `${p}[${i}].secretName`)));
        else if (k === 'secrets' && o.kind === 'ServiceAccount' && path === '' && Array.isArray(x)) x.forEach((t, i) => isObj(t) && unknown(t.name, `${p}[${i}]`, 'a ServiceAccount token Secret; its keys are not in the manifest'));
        else if (k === 'secretName' && typeof x === 'string') unknown(x, p, 'a whole-Secret reference whose keys this scanner does not know; teach test/secret-references.ts the keys its consumer reads');
        else walk(x, p);
      }
    };
    walk(o, '');
  }
  return { refs, unresolved };
}

/** `namespace/name` → keys. */
export type SecretKeys = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Every difference between what the manifests read and what bootstrap creates, one line each (empty when
 * the two agree key for key). `bootstrapOnly`: keys bootstrap consumes itself (the catalogue's
 * readByBootstrapOnly); each must be created, and no manifest may read it.
 */
export function contractProblems(scan: SecretScan, created: SecretKeys, bootstrapOnly: SecretKeys = new Map()): string[] {
  const problems: string[] = [];
  for (const u of scan.unresolved) problems.push(`${u.namespace}/${u.name} (${u.where}): ${u.problem}`);
  const read = new Map<string, Set<string>>();
  for (const r of scan.refs) {
    const id = `${r.namespace}/${r.name}`;
    read.set(id, (read.get(id) ?? new Set()).add(r.key));
    const keys = created.get(id);
    if (!keys) problems.push(`${id} is read (${r.where}) but bootstrap does not create it`);
    else if (!keys.has(r.key)) problems.push(`${id}[${r.key}] is read (${r.where}) but bootstrap does not create that key (it creates: ${[...keys].sort().join(', ')})`);
    if (bootstrapOnly.get(id)?.has(r.key)) problems.push(`${id}[${r.key}] is read (${r.where}) but the catalogue reserves it for bootstrap (readByBootstrapOnly)`);
  }
  for (const [id, keys] of bootstrapOnly) {
    for (const key of keys) {
      if (!created.get(id)?.has(key)) problems.push(`${id}[${key}] is read by bootstrap (readByBootstrapOnly) but bootstrap does not create that key`);
      else read.set(id, (read.get(id) ?? new Set()).add(key));
    }
  }
  for (const u of scan.unresolved) read.set(`${u.namespace}/${u.name}`, read.get(`${u.namespace}/${u.name}`) ?? new Set());
  for (const [id, keys] of created) {
    const wanted = read.get(id);
    if (!wanted) problems.push(`${id} is created but nothing reads it`);
    else for (const key of keys) if (!wanted.has(key)) problems.push(`${id}[${key}] is created but nothing reads it`);
  }
  return [...new Set(problems)];
}
