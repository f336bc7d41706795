/** What every policy rule sees: the objects, their pod templates, and a way to report. */
import { parseYaml, type LoadedDocument } from '../documents.js';
import type { Finding } from '../finding.js';
import type { RaibidConfig } from '../../config/resolve.js';

/** A Kubernetes object as read back from YAML. */
export type Obj = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

/** One pod template found in the output. */
export interface PodTemplate {
  /** The object that holds it. */
  readonly owner: Obj;
  readonly where: string;
  /** Path of the pod spec inside the owner, e.g. `spec.template.spec`. */
  readonly path: string;
  readonly spec: Record<string, any>;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly namespace: string | undefined;
  /** Deployments, StatefulSets, DaemonSets: these need probes. */
  readonly longRunning: boolean;
}

export interface PolicyContext {
  readonly config: RaibidConfig;
  readonly objects: readonly { readonly where: string; readonly obj: Obj }[];
  readonly pods: readonly PodTemplate[];
}

export type Report = (rule: string, where: string, owner: Obj, path: string, message: string) => void;

/** A rule reports what it finds through `report`. */
export type Rule = (ctx: PolicyContext, report: Report) => void;

export function label(o: Obj): string {
  return `${o.kind}/${o.metadata?.name ?? '?'}`;
}

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && typeof (x as Obj).kind === 'string';
}

/** Pod templates of workload kinds, ScaledJobs, and Job/Pod templates kept in ConfigMaps. */
export function podTemplatesOf(o: Obj, where: string): PodTemplate[] {
  const make = (path: string, template: Record<string, any> | undefined, longRunning: boolean, owner: Obj = o): PodTemplate[] =>
    template?.spec
      ? [{ owner, where, path: `${path}.spec`, spec: template.spec, labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {}, namespace: owner.metadata?.namespace ?? o.metadata?.namespace, longRunning }]
      : [];
  switch (o.kind) {
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
      return make('spec.template', o.spec?.template, true);
    case 'Job':
      return make('spec.template', o.spec?.template, false);
    case 'CronJob':
      return make('spec.jobTemplate.spec.template', o.spec?.jobTemplate?.spec?.template, false);
    case 'ScaledJob':
      return make('spec.jobTargetRef.template', o.spec?.jobTargetRef?.template, false);
    case 'Pod':
      return [{ owner: o, where, path: 'spec', spec: o.spec ?? {}, labels: o.metadata?.labels ?? {}, annotations: o.metadata?.annotations ?? {}, namespace: o.metadata?.namespace, longRunning: false }];
    case 'ConfigMap': {
      const out: PodTemplate[] = [];
      for (const [key, text] of Object.entries((o.data ?? {}) as Record<string, string>)) {
        if (!/\.ya?ml$/.test(key)) continue;
        let docs: unknown[] = [];
        try {
          docs = parseYaml(text, key);
        } catch {
          continue;
        }
        for (const inner of docs) {
          if (!isObj(inner) || !['Job', 'Pod'].includes(inner.kind)) continue;
          const withNs = { ...inner, metadata: { ...inner.metadata, namespace: inner.metadata?.namespace ?? o.metadata.namespace } } as Obj;
          for (const t of podTemplatesOf(withNs, where)) out.push({ ...t, owner: o, path: `data[${JSON.stringify(key)}].${t.path}` });
        }
      }
      return out;
    }
    default:
      return [];
  }
}

/** Builds the context from loaded documents. */
export function buildContext(docs: readonly LoadedDocument[], config: RaibidConfig): PolicyContext {
  const objects = docs.filter((d) => isObj(d.doc)).map((d) => ({ where: d.where, obj: d.doc as Obj }));
  return { config, objects, pods: objects.flatMap(({ obj, where }) => podTemplatesOf(obj, where)) };
}

/** Every container of a pod spec with its path (init containers included). */
export function containersOf(spec: Record<string, any>): { container: Record<string, any>; path: string; init: boolean }[] {
  return [
    ...((spec.initContainers ?? []) as Record<string, any>[]).map((c, i) => ({ container: c, path: `initContainers[${i}]`, init: true })),
    ...((spec.containers ?? []) as Record<string, any>[]).map((c, i) => ({ container: c, path: `containers[${i}]`, init: false })),
  ];
}

/** True when every entry of `selector` is in `labels`. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export type { Finding };
