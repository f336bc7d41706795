/**
 * The platform's share of the node: CPU, memory and ephemeral-storage requests of every pod the
 * synthesized stack runs, read from the objects themselves (pod templates, and the values of Helm
 * releases), plus the pods bootstrap and k3s run outside the Flux tree, and the size of every volume
 * claim (disk).
 *
 * Counting rules (deliberately conservative):
 * - a pod requests max(sum of containers + sidecars, largest init container), per resource;
 * - a PersistentVolumeClaim counts its storage request as disk (local-path does not enforce it, but
 *   it is what the component was sized for); a StatefulSet's volumeClaimTemplates count per replica;
 * - Deployments and StatefulSets count `spec.replicas` (1 when unset), DaemonSets once (one node);
 * - Jobs count `spec.parallelism` (1 when unset); CronJobs count one run, as if it overlapped builds;
 * - a HelmRelease counts every `requests` block in its values; a chart with none must be known here.
 *   Volumes a chart creates from its values are not seen: charts here keep theirs in explicit PVCs.
 */
import { bytes, cpuMillis } from '../config/quantity.js';

/** One row of the budget: `count` pods that each request `cpuMillis`, `memoryBytes` and `diskBytes`. */
export interface RequestLine {
  /** Component (chart folder) or origin, e.g. `gitea`, `bootstrap`. */
  readonly source: string;
  /** What runs, e.g. `Deployment infrastructure/gitea`. */
  readonly name: string;
  readonly count: number;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** Ephemeral-storage requests of one pod plus its claims; or the size of a PersistentVolumeClaim. */
  readonly diskBytes: number;
}

/** The Flux controllers bootstrap installs (source, kustomize, helm, notification), upstream requests. */
export const FLUX_CONTROLLERS: RequestLine = { source: 'bootstrap', name: 'Flux controllers (source, kustomize, helm, notification)', count: 4, cpuMillis: 100, memoryBytes: 64 * 2 ** 20, diskBytes: 0 };

/** The Flux Operator that installs them (controlplaneio-fluxcd chart default requests). */
export const FLUX_OPERATOR: RequestLine = { source: 'bootstrap', name: 'Flux Operator', count: 1, cpuMillis: 100, memoryBytes: 64 * 2 ** 20, diskBytes: 0 };

/** k3s's packaged add-ons with requests: CoreDNS and metrics-server (100m / 70Mi each upstream). */
export const K3S_ADDONS: RequestLine = { source: 'k3s', name: 'k3s add-ons (CoreDNS, metrics-server)', count: 2, cpuMillis: 100, memoryBytes: 70 * 2 ** 20, diskBytes: 0 };

/** Lines outside the Flux tree that every plan includes. */
export const FIXED_LINES: readonly RequestLine[] = [FLUX_CONTROLLERS, FLUX_OPERATOR, K3S_ADDONS];

/** Charts whose values may leave resources to the chart's defaults: their default pods. */
export const CHART_DEFAULTS: Readonly<Record<string, readonly { name: string; cpuMillis: number; memoryBytes: number }[]>> = {
  // kedacore/keda values.yaml: resources.{operator,metricServer,webhooks}.requests = 100m / 100Mi.
  keda: [
    { name: 'operator', cpuMillis: 100, memoryBytes: 100 * 2 ** 20 },
    { name: 'metrics server', cpuMillis: 100, memoryBytes: 100 * 2 ** 20 },
    { name: 'admission webhooks', cpuMillis: 100, memoryBytes: 100 * 2 ** 20 },
  ],
};

type Json = Record<string, any>;

interface Requests {
  cpuMillis: number;
  memoryBytes: number;
  diskBytes: number;
}

function containerRequests(c: Json): Requests {
  const r = c?.resources?.requests ?? {};
  const q = (v: unknown, parse: (x: string | number) => number) => (v === undefined ? 0 : parse(v as string | number));
  return { cpuMillis: q(r.cpu, cpuMillis), memoryBytes: q(r.memory, bytes), diskBytes: q(r['ephemeral-storage'], bytes) };
}

/** Effective requests of one pod spec, as the scheduler computes them (disk: ephemeral-storage). */
export function podRequests(spec: Json): Requests {
  const sum = (list: Json[]) =>
    list.map(containerRequests).reduce((a, b) => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes, diskBytes: a.diskBytes + b.diskBytes }), { cpuMillis: 0, memoryBytes: 0, diskBytes: 0 });
  const inits: Json[] = spec.initContainers ?? [];
  const sidecars = inits.filter((c) => c.restartPolicy === 'Always');
  const running = sum([...(spec.containers ?? []), ...sidecars]);
  const plainInits = inits.filter((c) => c.restartPolicy !== 'Always').map(containerRequests);
  return {
    cpuMillis: Math.max(running.cpuMillis, ...plainInits.map((r) => r.cpuMillis)),
    memoryBytes: Math.max(running.memoryBytes, ...plainInits.map((r) => r.memoryBytes)),
    diskBytes: Math.max(running.diskBytes, ...plainInits.map((r) => r.diskBytes)),
  };
}

/** Every `{requests: {cpu?, memory?}}` block inside Helm values, with its path. */
function valueRequests(values: unknown, path: string[] = []): { path: string; requests: Requests }[] {
  if (!values || typeof values !== 'object' || Array.isArray(values)) return [];
  const v = values as Json;
  const out: { path: string; requests: Requests }[] = [];
  const req = v.requests;
  if (req && typeof req === 'object' && (req.cpu !== undefined || req.memory !== undefined)) {
    out.push({ path: path.join('.') || 'requests', requests: containerRequests({ resources: { requests: req } }) });
  }
  for (const [k, child] of Object.entries(v)) if (k !== 'requests') out.push(...valueRequests(child, [...path, k]));
  return out;
}

/** Storage request of a claim (or claim template) spec, in bytes. */
function claimBytes(spec: Json | undefined): number {
  const s = spec?.resources?.requests?.storage;
  return s === undefined ? 0 : bytes(s);
}

function workloadLine(source: string, o: Json, count: number, spec: Json | undefined, claimsPerPod = 0): RequestLine[] {
  if (!spec) return [];
  const r = podRequests(spec);
  return [{ source, name: `${o.kind} ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`, count, ...r, diskBytes: r.diskBytes + claimsPerPod }];
}

const replicated = (source: string, o: Json) => workloadLine(source, o, o.spec?.replicas ?? 1, o.spec?.template?.spec);

/** How each kind that runs pods or claims disk requests resources; every other kind requests nothing. */
const KIND_LINES: Readonly<Record<string, (source: string, o: Json) => RequestLine[]>> = {
  Deployment: replicated,
  ReplicaSet: replicated,
  StatefulSet: (source, o) => {
    const claims = (o.spec?.volumeClaimTemplates ?? []).reduce((a: number, t: Json) => a + claimBytes(t.spec), 0);
    return workloadLine(source, o, o.spec?.replicas ?? 1, o.spec?.template?.spec, claims);
  },
  PersistentVolumeClaim: (source, o) => [{ source, name: `PersistentVolumeClaim ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`, count: 1, cpuMillis: 0, memoryBytes: 0, diskBytes: claimBytes(o.spec) }],
  DaemonSet: (source, o) => workloadLine(source, o, 1, o.spec?.template?.spec),
  Job: (source, o) => workloadLine(source, o, o.spec?.parallelism ?? 1, o.spec?.template?.spec),
  CronJob: (source, o) => workloadLine(source, o, o.spec?.jobTemplate?.spec?.parallelism ?? 1, o.spec?.jobTemplate?.spec?.template?.spec),
  Pod: (source, o) => workloadLine(source, o, 1, o.spec),
  HelmRelease: (source, o) => helmReleaseLines(source, o),
};

/** The kinds objectRequestLines counts. */
export const REQUESTING_KINDS: ReadonlySet<string> = new Set(Object.keys(KIND_LINES));

/** Request lines of one synthesized object (none for objects that run no pods). */
export function objectRequestLines(source: string, o: Json): RequestLine[] {
  return Object.hasOwn(KIND_LINES, o.kind) ? KIND_LINES[o.kind](source, o) : [];
}

function helmReleaseLines(source: string, o: Json): RequestLine[] {
  const chart: string = o.spec?.chart?.spec?.chart ?? o.spec?.chartRef?.name ?? '?';
  const release = `HelmRelease ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;
  const found = valueRequests(o.spec?.values);
  if (found.length > 0) return found.map((f) => ({ source, name: `${release} (${f.path})`, count: 1, ...f.requests }));
  const defaults = CHART_DEFAULTS[chart];
  if (!defaults) {
    throw new Error(
      `capacity: cannot count the pods of ${release} (chart ${JSON.stringify(chart)}): its values set no resources.requests and the chart's defaults are not in src/capacity/requests.ts CHART_DEFAULTS; set requests in its values or add the chart there`,
    );
  }
  return defaults.map((d) => ({ source, name: `${release} (${d.name}, chart default)`, count: 1, cpuMillis: d.cpuMillis, memoryBytes: d.memoryBytes, diskBytes: 0 }));
}
