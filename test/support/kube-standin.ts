/**
 * A stand-in for the Kubernetes API, for tests. It is NOT a Kubernetes API server: it serves the few
 * operations the raibid API needs for direct pools (the verbs of its Role) over plain HTTP on
 * 127.0.0.1, keeps everything in memory, and answers them the way kube-apiserver does — same paths,
 * Status objects, codes and reasons, watch stream format and resourceVersion rules — so that
 * `@kubernetes/client-node` can talk to it unchanged (see `kubeconfig()`).
 *
 * Served, in namespace `opts.namespace` only:
 *   POST   /apis/batch/v1/namespaces/{ns}/jobs              create (dryRun=All, fieldValidation)
 *   GET    /apis/batch/v1/namespaces/{ns}/jobs[/{name}]     get; list and watch (labelSelector, fieldSelector,
 *                                                           resourceVersion, limit/continue, timeoutSeconds,
 *                                                           allowWatchBookmarks)
 *   DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}       delete (propagationPolicy, dryRun, preconditions)
 *   GET    /api/v1/namespaces/{ns}/pods[/{name}]            get; list and watch (as for jobs)
 *   GET    /api/v1/namespaces/{ns}/pods/{name}/log          the text given to setPodLog
 *
 * What a request goes through, in kube-apiserver's order:
 *   1. authentication: `Authorization: Bearer <opts.token>`, else 401 Unauthorized (a missing token too,
 *      as on a server without anonymous access; with it, the real one would answer 403 system:anonymous);
 *   2. authorization: RBAC over `opts.rules` (default: the rules of the API's Role `raibid-api-jobs`,
 *      src/api/api.ts) in `opts.namespace` only; the discovery/health paths every authenticated user may
 *      GET (/api, /apis, /version, /healthz …) pass but are not served (404). Anything else: 403 Forbidden;
 *   3. a failure queued with failNext(), if one matches;
 *   4. for a create: options (dryRun must be `All`, fieldValidation `Ignore|Warn|Strict`, else 422 Invalid
 *      CreateOptions); decoding (JSON only; apiVersion/kind default to batch/v1 Job and may not be
 *      anything else; wrongly typed values and malformed quantities → 400 BadRequest); unknown fields,
 *      found by the project's schema gate (validateSchema, src/policy/schema.ts): with Strict → 400
 *      BadRequest "strict decoding error: unknown field …", with Warn (the server's default) the field is
 *      dropped and a `Warning` header names it, with Ignore it is dropped silently; metadata.namespace
 *      must equal the path's (400); then the name is generated from generateName, the selector and the
 *      job-name labels are added, and the Job is validated — every other schema-gate finding (required
 *      fields, enums, formats) and the part of ValidateJob listed at `validateJob` → 422 Invalid with one
 *      details.causes entry per problem; last, storage: metadata.resourceVersion set → 500, name taken →
 *      409 AlreadyExists;
 *   5. a delete without propagationPolicy orphans the pods, with kube-apiserver's Warning about it.
 *
 * Mind that client-node's typed APIs (BatchV1Api …) re-serialize a body through their models: a field
 * the models do not declare is dropped before it is sent, so no server, this one included, sees it.
 *
 * Known differences from a real cluster (a test passing here can still fail there):
 *   - stricter: every container must name an image (the project's rule); the real API accepts a Job
 *     template without one (the field is optional in templates) and only its pods fail;
 *   - env names get the classic rule (letters, digits, '_', '-', '.', no leading digit), which
 *     Kubernetes 1.32 relaxed;
 *   - not checked: probes, security contexts, affinity, env valueFrom one-of, resource names, duplicate
 *     JSON keys, a manualSelector's match with the template; no admission (Pod Security, quotas,
 *     LimitRanges) and no defaulting of the pod template;
 *   - no controllers: a created Job gets one Pod (`<job>-xxxxx`, Pending) and `status.active: 1`, nothing
 *     more; tests move them with setPodStatus/setJobStatus; pods get no node and never run;
 *   - events are kept until compact(): a watch or continue token from before it gets 410 Expired; lists
 *     always show the current state (resourceVersionMatch=Exact on an older version: 501);
 *   - pods/log answers the whole text at once (no follow, tail, previous, timestamps);
 *   - anything else it does not implement answers 501, with a message naming the stand-in.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IJobStatus } from 'kubernetes-models/batch/v1/JobStatus';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IPodStatus } from 'kubernetes-models/v1/PodStatus';
import { stringify } from 'yaml';
import { formatFinding, type Finding } from '../../src/policy/finding.js';
import { validateSchema } from '../../src/policy/schema.js';

/** The rules of the API's Role (src/api/api.ts): what `opts.rules` defaults to. */
export const API_ROLE_RULES: readonly IPolicyRule[] = [
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

export interface KubeStandInOptions {
  /** The only namespace the token may use (the API's Role is namespaced). */
  readonly namespace: string;
  /** The bearer token every request must carry. */
  readonly token: string;
  /** User named in 403 messages. @default system:serviceaccount:<namespace>:raibid-api */
  readonly user?: string;
  /** RBAC rules granted to the token in `namespace`. @default API_ROLE_RULES */
  readonly rules?: readonly IPolicyRule[];
  /** Period of BOOKMARK events on watches that ask for them (allowWatchBookmarks=true). @default 5000 */
  readonly bookmarkIntervalMs?: number;
}

/** One request as the stand-in understood it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Kubernetes verb (get, list, watch, create, delete …); for non-resource paths the lowercased method. */
  readonly verb: string;
  /** `jobs`, `pods`, `pods/log` …; empty for non-resource paths. */
  readonly resource: string;
  readonly name: string;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
  /** HTTP status of the answer (for a watch, of its start). */
  status?: number;
}

/** A failure to answer instead of serving a request; see failNext. */
export interface InjectedFailure {
  readonly code: number;
  /** Status reason, e.g. `ServiceUnavailable`, `TooManyRequests`, `InternalError`, `Conflict`. */
  readonly reason: string;
  readonly message?: string;
  /** Sent as details.retryAfterSeconds and the Retry-After header. */
  readonly retryAfterSeconds?: number;
}

/** Which requests an injected failure applies to; unset properties match anything. */
export interface RequestMatch {
  readonly verb?: string;
  readonly resource?: string;
  readonly name?: string;
}

export interface KubeStandIn {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stored Jobs by name, as the API would return them. */
  readonly jobs: ReadonlyMap<string, IJob>;
  /** Stored Pods by name. */
  readonly pods: ReadonlyMap<string, IPod>;
  /** Every request received, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** A kubeconfig (YAML) for client-node: this server, the given token (default: the valid one), the namespace. */
  kubeconfig(token?: string): string;
  /** Replaces a pod's status (checked with the schema gate; throws when invalid) and emits MODIFIED. */
  setPodStatus(name: string, status: IPodStatus | ((pod: IPod) => IPodStatus)): Promise<IPod>;
  /** Replaces a Job's status (checked with the schema gate; throws when invalid) and emits MODIFIED. */
  setJobStatus(name: string, status: IJobStatus | ((job: IJob) => IJobStatus)): Promise<IJob>;
  /** Sets the log text a pod's container returns. */
  setPodLog(name: string, text: string): void;
  /** The next request matching `match` (after authentication and authorization) gets `failure` instead. */
  failNext(failure: InjectedFailure, match?: RequestMatch): void;
  /** Forgets the event history, as etcd compaction does: older resourceVersions then get 410 Expired. */
  compact(): void;
  /** Ends every open watch stream, as an API server restart or watch timeout does. */
  endWatches(): void;
  close(): Promise<void>;
}

type Obj = Record<string, any>;
type Resource = 'jobs' | 'pods';
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change to the store: what the watch cache keeps. */
interface Change {
  readonly resource: Resource;
  readonly type: EventType;
  readonly rv: number;
  /** The object before the change (absent for ADDED). */
  readonly old?: Obj;
  /** The object after the change (for DELETED: its last state, at the deletion's resourceVersion). */
  readonly obj: Obj;
}

interface Watcher {
  readonly resource: Resource;
  readonly matches: (o: Obj) => boolean;
  readonly res: ServerResponse;
}

/** A failed request, answered as a Status object. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(message);
  }
}

/** Kubernetes' field error, as a Status cause. */
interface Cause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

const KINDS: Record<Resource, { group: string; version: string; kind: string }> = {
  jobs: { group: 'batch', version: 'v1', kind: 'Job' },
  pods: { group: '', version: 'v1', kind: 'Pod' },
};

/** Paths every authenticated user may GET (system:discovery, system:public-info-viewer); not served here. */
const DISCOVERY_PATHS = [/^\/apis?(\/.*)?$/, /^\/version\/?$/, /^\/(healthz|livez|readyz)(\/.*)?$/, /^\/openapi(\/.*)?$/];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const QUANTITY_SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
/** The characters of Kubernetes' generated name suffixes (no vowels, no look-alikes). */
const NAME_SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const ORPHAN_WARNING = 'child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning';

/** RFC 3339 time to the second, as the API server writes timestamps. */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `<base><5 random chars>`, the base cut to 58 characters, as the API server generates names. */
function generateName(base: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += NAME_SUFFIX_CHARS[randomInt(NAME_SUFFIX_CHARS.length)];
  return base.slice(0, 58) + suffix;
}

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(reason ? { reason } : {}), ...(details ? { details } : {}), code };
}

/** Stored objects in key order (namespace/name), as etcd lists them. */
function sorted(objects: Map<string, Obj>): Obj[] {
  return [...objects.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

/** `jobs.batch` or `pods`: how the API server names a resource in messages. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

function notFound(resource: Resource, name: string): ApiError {
  const { group } = KINDS[resource];
  return new ApiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, ...(group ? { group } : {}), kind: resource });
}

function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** For what the stand-in does not implement: a loud failure, never a silent approximation. */
function unsupported(what: string): ApiError {
  return new ApiError(501, 'NotImplemented', `kube stand-in: ${what} is not implemented (this is not a Kubernetes API server)`);
}

/** 422 Invalid with one cause per problem, worded as kube-apiserver's NewInvalid. */
function invalid(kind: string, group: string, name: string, causes: readonly Cause[]): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.message}`);
  const list = text.length === 1 ? text[0] : `[${text.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualified(kind, group)} "${name}" is invalid: ${list}`, { name, group, kind, causes });
}

/** Collects field errors in kube-apiserver's wording (k8s.io/apimachinery/pkg/util/validation/field). */
class Causes {
  readonly list: Cause[] = [];
  required(field: string, detail = ''): void {
    this.list.push({ reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value', field });
  }
  invalid(field: string, value: unknown, detail: string): void {
    this.list.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${detail}`, field });
  }
  notSupported(field: string, value: unknown, allowed: readonly string[]): void {
    this.list.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, field });
  }
  duplicate(field: string, value: unknown): void {
    this.list.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(value)}`, field });
  }
  notFound(field: string, value: unknown): void {
    this.list.push({ reason: 'FieldValueNotFound', message: `Not found: ${JSON.stringify(value)}`, field });
  }
  forbidden(field: string, detail: string): void {
    this.list.push({ reason: 'FieldValueForbidden', message: `Forbidden: ${detail}`, field });
  }
  dnsLabel(field: string, value: string): void {
    if (value.length > 63 || !DNS1123_LABEL.test(value)) this.invalid(field, value, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with one, and be at most 63 characters");
  }
  dnsSubdomain(field: string, value: string): void {
    if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) this.invalid(field, value, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
  }
  /** A label or annotation key: `[prefix/]name`. */
  qualifiedName(field: string, key: string): void {
    const parts = key.split('/');
    const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
    const ok = parts.length <= 2 && (prefix === undefined || (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) && name.length <= 63 && NAME_PART.test(name);
    if (!ok) this.invalid(field, key, "a qualified name must be an optional DNS subdomain prefix and '/', then at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character");
  }
  labelValue(field: string, v: string): void {
    if (v.length > 63) this.invalid(field, v, 'must be no more than 63 characters');
    else if (!LABEL_VALUE.test(v)) this.invalid(field, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  labels(field: string, labels: Obj | undefined): void {
    for (const [k, v] of Object.entries(labels ?? {})) {
      this.qualifiedName(field, k);
      if (typeof v === 'string') this.labelValue(field, v);
    }
  }
  annotations(field: string, annotations: Obj | undefined): void {
    let size = 0;
    for (const [k, v] of Object.entries(annotations ?? {})) {
      this.qualifiedName(field, k.toLowerCase());
      size += k.length + String(v).length;
    }
    if (size > 256 * 1024) this.list.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${256 * 1024} bytes`, field });
  }
}

/** A quantity's value, or undefined when it does not parse (numbers are accepted, as the API does). */
function quantity(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  const m = typeof value === 'string' ? QUANTITY.exec(value) : null;
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  return Number(m[1]) * (/^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : QUANTITY_SUFFIX[suffix]);
}

/** Every [path, value] of a quantity in a pod spec (container resources, emptyDir size limits). */
function podQuantities(spec: Obj, path: string): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const kind of ['initContainers', 'containers']) {
    (spec[kind] ?? []).forEach((c: Obj, i: number) => {
      for (const which of ['requests', 'limits']) for (const [k, v] of Object.entries(c?.resources?.[which] ?? {})) out.push([`${path}.${kind}[${i}].resources.${which}[${k}]`, v]);
    });
  }
  (spec.volumes ?? []).forEach((v: Obj, i: number) => {
    if (v?.emptyDir?.sizeLimit !== undefined) out.push([`${path}.volumes[${i}].emptyDir.sizeLimit`, v.emptyDir.sizeLimit]);
  });
  return out;
}

/** The labels the server gives a Job's pod template (and the Job controller its pods). */
function jobLabels(name: string, uid: string): Record<string, string> {
  return { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
}

/** What the Job strategy's PrepareForCreate does: status cleared, selector and job-name labels generated. */
function prepareJob(job: Obj): void {
  const { name = '', uid } = job.metadata;
  job.status = {};
  job.spec ??= {};
  if (job.spec.manualSelector === true) return;
  const tpl = (job.spec.template ??= {});
  tpl.metadata = { ...tpl.metadata, labels: { ...tpl.metadata?.labels } };
  // Labels the client already set are kept: validation then rejects them if they differ.
  for (const [k, v] of Object.entries(jobLabels(name, uid))) tpl.metadata.labels[k] ??= v;
  job.spec.selector = { ...job.spec.selector, matchLabels: { ...job.spec.selector?.matchLabels } };
  job.spec.selector.matchLabels['batch.kubernetes.io/controller-uid'] ??= uid;
}

/**
 * The part of kube-apiserver's Job validation (ValidateJob, ValidatePodTemplateSpec, ValidatePodSpec)
 * the stand-in applies on top of the schema gate: names and generateName, label and annotation keys and
 * values (the template's labels include job-name=<name>, which limits Job names to 63 characters),
 * non-negative counts, the generated selector and job-name labels untouched (unless manualSelector),
 * restartPolicy OnFailure|Never,
 * at least one container, container names (DNS labels, unique), ports (1–65535, valid and unique names),
 * env names, volume names (DNS labels, unique, exactly one source), volume mounts (existing volume,
 * unique mountPath), quantities not negative and requests ≤ limits.
 */
function validateJob(job: Obj): Cause[] {
  const c = new Causes();
  const meta = job.metadata ?? {};
  if (!meta.name) c.required('metadata.name', 'name or generateName is required');
  else c.dnsSubdomain('metadata.name', meta.name);
  if (meta.generateName) c.dnsSubdomain('metadata.generateName', meta.generateName.replace(/-$/, 'a'));
  c.labels('metadata.labels', meta.labels);
  c.annotations('metadata.annotations', meta.annotations);
  const spec = job.spec ?? {};
  for (const f of ['parallelism', 'completions', 'backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished']) {
    if (typeof spec[f] === 'number' && spec[f] < 0) c.invalid(`spec.${f}`, spec[f], 'must be greater than or equal to 0');
  }
  const tplLabels = spec.template?.metadata?.labels;
  if (spec.manualSelector !== true) {
    if (JSON.stringify(spec.selector) !== JSON.stringify({ matchLabels: { 'batch.kubernetes.io/controller-uid': meta.uid } })) c.invalid('spec.selector.matchLabels', spec.selector?.matchLabels, '`selector` not auto-generated');
    for (const [k, v] of Object.entries(jobLabels(meta.name ?? '', meta.uid))) if (tplLabels?.[k] !== v) c.invalid(`spec.template.metadata.labels[${k}]`, tplLabels?.[k], `must be '${v}'`);
  }
  c.labels('spec.template.labels', tplLabels);
  c.annotations('spec.template.annotations', spec.template?.metadata?.annotations);
  validatePodSpec(c, spec.template?.spec ?? {}, 'spec.template.spec');
  return c.list;
}

function validatePodSpec(c: Causes, spec: Obj, path: string): void {
  if (spec.restartPolicy !== 'OnFailure' && spec.restartPolicy !== 'Never') c.notSupported(`${path}.restartPolicy`, spec.restartPolicy ?? 'Always', ['OnFailure', 'Never']);
  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v: Obj, i: number) => {
    const p = `${path}.volumes[${i}]`;
    if (typeof v?.name === 'string') {
      c.dnsLabel(`${p}.name`, v.name);
      if (volumes.has(v.name)) c.duplicate(`${p}.name`, v.name);
      volumes.add(v.name);
    }
    const sources = Object.keys(v ?? {}).filter((k) => k !== 'name');
    if (sources.length === 0) c.required(p, 'must specify a volume type');
    else if (sources.length > 1) c.forbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type');
  });
  if (Array.isArray(spec.containers) && spec.containers.length === 0) c.required(`${path}.containers`);
  const names = new Set<string>();
  for (const kind of ['initContainers', 'containers']) {
    (spec[kind] ?? []).forEach((ctr: Obj, i: number) => validateContainer(c, ctr ?? {}, `${path}.${kind}[${i}]`, names, volumes));
  }
  for (const [field, value] of podQuantities(spec, path)) {
    if ((quantity(value) ?? 0) < 0) c.invalid(field, value, 'must be greater than or equal to 0');
  }
}

function validateContainer(c: Causes, ctr: Obj, p: string, names: Set<string>, volumes: Set<string>): void {
  if (typeof ctr.name === 'string') {
    c.dnsLabel(`${p}.name`, ctr.name);
    if (names.has(ctr.name)) c.duplicate(`${p}.name`, ctr.name);
    names.add(ctr.name);
  }
  const portNames = new Set<string>();
  (ctr.ports ?? []).forEach((port: Obj, i: number) => {
    const pp = `${p}.ports[${i}]`;
    for (const f of ['containerPort', 'hostPort']) {
      const n = port?.[f];
      if (typeof n === 'number' && (n < 1 || n > 65535) && !(f === 'hostPort' && n === 0)) c.invalid(`${pp}.${f}`, n, 'must be between 1 and 65535, inclusive');
    }
    if (typeof port?.name === 'string') {
      const ok = port.name.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(port.name) && /[a-z]/.test(port.name) && !port.name.includes('--');
      if (!ok) c.invalid(`${pp}.name`, port.name, "must be no more than 15 characters of lower case alphanumerics and '-', with at least one letter, no '--', and start and end with an alphanumeric");
      if (portNames.has(port.name)) c.duplicate(`${pp}.name`, port.name);
      portNames.add(port.name);
    }
  });
  (ctr.env ?? []).forEach((e: Obj, i: number) => {
    if (typeof e?.name === 'string' && !ENV_NAME.test(e.name)) c.invalid(`${p}.env[${i}].name`, e.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit");
  });
  const mountPaths = new Set<string>();
  (ctr.volumeMounts ?? []).forEach((m: Obj, i: number) => {
    if (typeof m?.name === 'string' && !volumes.has(m.name)) c.notFound(`${p}.volumeMounts[${i}].name`, m.name);
    if (typeof m?.mountPath === 'string') {
      if (mountPaths.has(m.mountPath)) c.invalid(`${p}.volumeMounts[${i}].mountPath`, m.mountPath, 'must be unique');
      mountPaths.add(m.mountPath);
    }
  });
  const { requests = {}, limits = {} } = ctr.resources ?? {};
  for (const [name, req] of Object.entries(requests)) {
    const r = quantity(req);
    const l = quantity(limits[name]);
    if (r !== undefined && l !== undefined && r > l) c.invalid(`${p}.resources.requests[${name}]`, String(req), `must be less than or equal to ${name} limit of ${String(limits[name])}`);
  }
}

/** Path segments of a schema-gate path (`a.b[0]["c/d"]`). */
function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.?([A-Za-z_]\w*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  for (let m = re.exec(path); m && path.length > 0; m = re.exec(path)) {
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]) as string)));
    if (re.lastIndex >= path.length) break;
  }
  return out;
}

/** Removes the value at a schema-gate path (what decoding does to an unknown field). */
function dropPath(doc: Obj, path: string): void {
  const segs = pathSegments(path);
  const parent = segs.slice(0, -1).reduce<any>((o, k) => o?.[k], doc);
  if (parent && typeof parent === 'object') delete parent[segs[segs.length - 1] as string];
}

/**
 * How kube-apiserver would report a schema-gate finding: at decoding (a wrongly typed value, 400), as
 * an unknown field (per fieldValidation), or at validation (422).
 */
function findingClass(f: Finding): 'unknown' | 'type' | 'required' | 'enum' | 'invalid' {
  if (/^unknown field "/.test(f.message)) return 'unknown';
  if (/^(expected (a string|a number|a boolean|an array|an object), got|unexpected |must be (integer|number|string|boolean|object|array|null)\b)/.test(f.message)) return 'type';
  if (f.message === 'required field is missing') return 'required';
  if (/^expected one of /.test(f.message)) return 'enum';
  return 'invalid';
}

function findingCause(f: Finding, doc: Obj): Cause {
  const value = pathSegments(f.path).reduce<any>((o, k) => o?.[k], doc);
  switch (findingClass(f)) {
    case 'required':
      return { reason: 'FieldValueRequired', message: 'Required value', field: f.path };
    case 'enum':
      return { reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${f.message.replace(/^expected one of (.*), got .*$/, '$1')}`, field: f.path };
    default:
      return { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${f.message}`, field: f.path };
  }
}

/** Parses `?labelSelector=` (=, ==, !=, in, notin, exists, !exists, <, >); 400 when malformed, as the API does. */
function labelSelector(text: string): (labels: Obj) => boolean {
  const parts = text.split(/,(?![^(]*\))/).map((p) => p.trim()).filter(Boolean);
  const tests = parts.map((part): ((l: Obj) => boolean) => {
    const key = '([^\\s!=<>(),]+)';
    let m: RegExpExecArray | null;
    const check = (k: string, values: string[]) => {
      const c = new Causes();
      c.qualifiedName('labelSelector', k);
      values.forEach((v) => c.labelValue('labelSelector', v));
      if (c.list.length) throw badRequest(`unable to parse requirement: ${c.list[0].message}`);
    };
    if ((m = new RegExp(`^(!?)\\s*${key}$`).exec(part))) {
      const [, not, k] = m;
      check(k, []);
      return (l) => (k in l) !== (not === '!');
    }
    if ((m = new RegExp(`^${key}\\s*(==|!=|=)\\s*([^\\s,]*)$`).exec(part))) {
      const [, k, op, v] = m;
      check(k, [v]);
      return (l) => (op === '!=' ? l[k] !== v : l[k] === v);
    }
    if ((m = new RegExp(`^${key}\\s+(in|notin)\\s*\\(([^()]*)\\)$`).exec(part))) {
      const [, k, op, list] = m;
      const values = list.split(',').map((v) => v.trim());
      check(k, values);
      return (l) => (op === 'in' ? k in l && values.includes(l[k]) : !(k in l) || !values.includes(l[k]));
    }
    if ((m = new RegExp(`^${key}\\s*(<|>)\\s*(-?\\d+)$`).exec(part))) {
      const [, k, op, n] = m;
      check(k, []);
      return (l) => k in l && /^-?\d+$/.test(l[k]) && (op === '<' ? Number(l[k]) < Number(n) : Number(l[k]) > Number(n));
    }
    throw badRequest(`unable to parse requirement: ${JSON.stringify(part)}`);
  });
  return (labels) => tests.every((t) => t(labels ?? {}));
}

/** The field selectors kube-apiserver supports for each resource. */
const FIELDS: Record<Resource, Record<string, (o: Obj) => unknown>> = {
  jobs: {
    'metadata.name': (o) => o.metadata.name,
    'metadata.namespace': (o) => o.metadata.namespace,
    'status.successful': (o) => String(o.status?.succeeded ?? 0),
  },
  pods: {
    'metadata.name': (o) => o.metadata.name,
    'metadata.namespace': (o) => o.metadata.namespace,
    'spec.nodeName': (o) => o.spec?.nodeName ?? '',
    'spec.restartPolicy': (o) => o.spec?.restartPolicy ?? '',
    'spec.schedulerName': (o) => o.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (o) => o.spec?.serviceAccountName ?? '',
    'spec.hostNetwork': (o) => String(o.spec?.hostNetwork ?? false),
    'status.phase': (o) => o.status?.phase ?? '',
    'status.podIP': (o) => o.status?.podIP ?? '',
    'status.nominatedNodeName': (o) => o.status?.nominatedNodeName ?? '',
  },
};

/** Parses `?fieldSelector=` (=, ==, !=); unknown fields are a 400, as the API answers. */
function fieldSelector(resource: Resource, text: string): (o: Obj) => boolean {
  const tests = text.split(',').map((p) => p.trim()).filter(Boolean).map((part) => {
    const m = /^([^=!]+)(==|!=|=)(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid field selector: ${JSON.stringify(part)}`);
    const [, field, op, value] = m;
    const get = FIELDS[resource][field.trim()];
    if (!get) throw badRequest(`field label not supported: ${field.trim()}`);
    return (o: Obj) => (get(o) === value) === (op !== '!=');
  });
  return (o) => tests.every((t) => t(o));
}

/** What kube-apiserver's RequestInfoFactory makes of a request. */
interface RequestInfo {
  readonly isResource: boolean;
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

function parseBool(v: string | null): boolean {
  return v !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v);
}

function requestInfo(method: string, url: URL): RequestInfo {
  const parts = url.pathname.split('/').filter(Boolean);
  const nonResource = { isResource: false, verb: method.toLowerCase(), group: '', version: '', namespace: '', resource: '', subresource: '', name: '' };
  let group = '';
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(1);
  else if (parts[0] === 'apis' && parts.length >= 4) [group, ...rest] = parts.slice(1);
  else return nonResource;
  const [version, ...tail] = rest;
  let verb = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[method] ?? method.toLowerCase();
  let segs = tail;
  if (segs[0] === 'watch') {
    verb = 'watch';
    segs = segs.slice(1);
  }
  let namespace = '';
  if (segs[0] === 'namespaces' && segs.length > 1) {
    namespace = segs[1];
    segs = segs.length > 2 ? segs.slice(2) : ['namespaces', namespace];
  }
  const [resource = '', name = '', subresource = ''] = segs;
  if (!name && verb === 'get') verb = parseBool(url.searchParams.get('watch')) ? 'watch' : 'list';
  if (!name && verb === 'delete') verb = 'deletecollection';
  return { isResource: true, verb, group, version, namespace, resource, subresource, name };
}

/** Starts the stand-in on 127.0.0.1 (random port). */
export async function startKubeStandIn(opts: KubeStandInOptions): Promise<KubeStandIn> {
  const ns = opts.namespace;
  const user = opts.user ?? `system:serviceaccount:${ns}:raibid-api`;
  const rules = opts.rules ?? API_ROLE_RULES;
  const store: Record<Resource, Map<string, Obj>> = { jobs: new Map(), pods: new Map() };
  const logs = new Map<string, string>();
  const requests: RecordedRequest[] = [];
  const failures: { failure: InjectedFailure; match: RequestMatch }[] = [];
  const watchers = new Set<Watcher>();
  let history: Change[] = [];
  /** The store's resourceVersion (one counter for every resource, as etcd's revision). */
  let rv = 1000;
  /** The oldest resourceVersion a watch may start from. */
  let compactedRv = rv;

  // ---- store -------------------------------------------------------------------------------------

  function deliver(w: Watcher, ch: Change): void {
    // A watch with a selector sees an object enter (ADDED) or leave (DELETED) the selection.
    const was = ch.old !== undefined && w.matches(ch.old);
    const is = ch.type !== 'DELETED' && w.matches(ch.obj);
    const type = ch.type === 'DELETED' ? (was ? 'DELETED' : undefined) : was && is ? 'MODIFIED' : is ? 'ADDED' : was ? 'DELETED' : undefined;
    if (type) emit(w.res, type, ch.obj);
  }

  /** Writes one watch event (never after the stream's end: Node would raise an unhandled error). */
  function emit(res: ServerResponse, type: string, object: Obj): void {
    if (!res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n');
  }

  function endWatch(w: Watcher): void {
    watchers.delete(w);
    w.res.end();
  }

  function record(resource: Resource, type: EventType, old: Obj | undefined, obj: Obj): void {
    const ch: Change = { resource, type, rv, old, obj };
    history.push(ch);
    for (const w of watchers) if (w.resource === resource) deliver(w, ch);
  }

  /** Stores a new version of an object (a fresh object: stored ones are never mutated). */
  function put(resource: Resource, obj: Obj): Obj {
    const old = store[resource].get(obj.metadata.name);
    rv += 1;
    obj.metadata.resourceVersion = String(rv);
    store[resource].set(obj.metadata.name, obj);
    record(resource, old ? 'MODIFIED' : 'ADDED', old, obj);
    return obj;
  }

  function remove(resource: Resource, name: string): void {
    const old = store[resource].get(name);
    if (!old) return;
    rv += 1;
    store[resource].delete(name);
    logs.delete(name);
    record(resource, 'DELETED', old, { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } });
  }

  function podsOf(job: Obj): Obj[] {
    return [...store.pods.values()].filter((p) => p.metadata.ownerReferences?.some((r: Obj) => r.uid === job.metadata.uid));
  }

  /** The only controller behaviour: a new Job gets one Pod and `status.active: 1`. */
  function startJob(job: Obj): void {
    if (!store.jobs.has(job.metadata.name) || job.spec.suspend === true || job.spec.parallelism === 0) return;
    const tpl = job.spec.template;
    const name = generateName(`${job.metadata.name}-`);
    put('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        generateName: `${job.metadata.name}-`,
        namespace: ns,
        uid: randomUUID(),
        creationTimestamp: now(),
        labels: { ...tpl.metadata?.labels },
        ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(tpl.spec),
      status: { phase: 'Pending' },
    });
    const current = store.jobs.get(job.metadata.name);
    if (current) put('jobs', { ...structuredClone(current), status: { active: 1, ready: 0, terminating: 0, startTime: now(), uncountedTerminatedPods: {} } });
  }

  // ---- handlers ----------------------------------------------------------------------------------

  async function createJob(req: IncomingMessage, q: URLSearchParams, body: unknown, warnings: string[]): Promise<[number, Obj]> {
    const dryRun = q.getAll('dryRun');
    const fieldValidation = q.get('fieldValidation') ?? '';
    const optionErrors = new Causes();
    dryRun.forEach((d) => d !== 'All' && optionErrors.notSupported('dryRun', d, ['All']));
    if (!['', 'Ignore', 'Warn', 'Strict'].includes(fieldValidation)) optionErrors.notSupported('fieldValidation', fieldValidation, ['Ignore', 'Strict', 'Warn']);
    if (optionErrors.list.length) throw invalid('CreateOptions', 'meta.k8s.io', '', optionErrors.list);
    const mediaType = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim();
    if (mediaType === 'application/yaml' || mediaType === 'application/vnd.kubernetes.protobuf') throw unsupported(`a ${mediaType} body`);
    if (mediaType !== 'application/json') throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);

    // Decoding: a JSON object of kind batch/v1 Job (both defaulted when absent, as the server does).
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`the object provided is unrecognized (must be of type Job): couldn't get version/kind; json parse error`);
    const job = structuredClone(body) as Obj;
    job.apiVersion ??= 'batch/v1';
    job.kind ??= 'Job';
    if (job.apiVersion !== 'batch/v1') throw badRequest(`the API version in the data (${String(job.apiVersion)}) does not match the expected API version (batch/v1)`);
    if (job.kind !== 'Job') throw badRequest(`${String(job.kind)} in version "v1" cannot be handled as a Job: no kind "${String(job.kind)}" is registered for the resource jobs`);
    const findings = await validateSchema(job, 'kube-standin POST jobs');
    const decodeErrors = findings.filter((f) => findingClass(f) === 'type').map((f) => `${f.path}: ${f.message}`);
    decodeErrors.push(...podQuantities(job.spec?.template?.spec ?? {}, 'spec.template.spec').filter(([, v]) => quantity(v) === undefined).map(([p]) => `${p}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`));
    if (decodeErrors.length) throw badRequest(`Job in version "v1" cannot be handled as a Job: ${decodeErrors.join('; ')}`);
    const unknown = findings.filter((f) => findingClass(f) === 'unknown').map((f) => `unknown field "${f.path}"`);
    if (unknown.length && fieldValidation === 'Strict') throw badRequest(`Job in version "v1" cannot be handled as a Job: strict decoding error: ${unknown.join(', ')}`);
    findings.filter((f) => findingClass(f) === 'unknown').forEach((f) => dropPath(job, f.path));
    if (fieldValidation !== 'Ignore') warnings.push(...unknown);

    const meta = (job.metadata ??= {});
    if (meta.namespace !== undefined && meta.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');

    // What the server sets before validating (BeforeCreate, the Job strategy's PrepareForCreate).
    Object.assign(meta, { namespace: ns, uid: randomUUID(), creationTimestamp: now(), generation: 1 });
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    prepareJob(job);
    const causes = [...findings.filter((f) => !['unknown', 'type'].includes(findingClass(f))).map((f) => findingCause(f, job)), ...validateJob(job)];
    if (causes.length) throw invalid('Job', 'batch', meta.name ?? '', causes);

    if (meta.resourceVersion) throw new ApiError(500, '', 'resourceVersion should not be set on objects to be created');
    if (store.jobs.has(meta.name)) throw new ApiError(409, 'AlreadyExists', `jobs.batch "${meta.name}" already exists`, { name: meta.name, group: 'batch', kind: 'jobs' });
    if (dryRun.length) return [201, job];
    const stored = put('jobs', job);
    // The Job controller reacts after the answer, as in a cluster (the client sees the pod soon after).
    setImmediate(() => startJob(stored));
    return [201, stored];
  }

  function deleteJob(name: string, q: URLSearchParams, body: unknown, warnings: string[]): [number, Obj] {
    const job = store.jobs.get(name);
    if (!job) throw notFound('jobs', name);
    const options = (typeof body === 'object' && body !== null ? body : {}) as Obj;
    const policy = q.get('propagationPolicy') ?? options.propagationPolicy ?? 'Orphan';
    if (!['Orphan', 'Background', 'Foreground'].includes(policy)) {
      const c = new Causes();
      c.notSupported('propagationPolicy', policy, ['Foreground', 'Background', 'Orphan']);
      throw invalid('DeleteOptions', 'meta.k8s.io', '', c.list);
    }
    const pre = options.preconditions ?? {};
    if ((pre.uid && pre.uid !== job.metadata.uid) || (pre.resourceVersion && pre.resourceVersion !== job.metadata.resourceVersion)) {
      const which = pre.uid && pre.uid !== job.metadata.uid ? `UID in precondition: ${pre.uid}, UID in object meta: ${job.metadata.uid}` : `ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${job.metadata.resourceVersion}`;
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on jobs.batch "${name}": Precondition failed: ${which}`, { name, group: 'batch', kind: 'jobs' });
    }
    // Jobs keep their pods unless asked otherwise (a kube-apiserver quirk kept for compatibility).
    if (q.get('propagationPolicy') === null && options.propagationPolicy === undefined) warnings.push(ORPHAN_WARNING);
    const success = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: 'batch', kind: 'jobs', uid: job.metadata.uid } };
    if (q.getAll('dryRun').length) return [200, policy === 'Background' ? success : job];
    if (policy === 'Background') {
      remove('jobs', name);
      setImmediate(() => podsOf(job).forEach((p) => remove('pods', p.metadata.name)));
      return [200, success];
    }
    // Orphan and Foreground: the Job waits on a finalizer while the garbage collector works.
    const finalizer = policy === 'Orphan' ? 'orphan' : 'foregroundDeletion';
    const marked = put('jobs', { ...structuredClone(job), metadata: { ...structuredClone(job.metadata), deletionTimestamp: now(), deletionGracePeriodSeconds: 0, finalizers: [...(job.metadata.finalizers ?? []), finalizer] } });
    setImmediate(() => {
      for (const p of podsOf(job)) {
        if (policy === 'Foreground') remove('pods', p.metadata.name);
        else {
          const { ownerReferences: _gone, ...metadata } = structuredClone(p.metadata);
          put('pods', { ...structuredClone(p), metadata });
        }
      }
      remove('jobs', name);
    });
    return [200, marked];
  }

  function list(resource: Resource, q: URLSearchParams, matches: (o: Obj) => boolean): Obj {
    checkResourceVersion(q.get('resourceVersion'));
    const match = q.get('resourceVersionMatch');
    if (match === 'Exact' && q.get('resourceVersion') !== String(rv)) throw unsupported('resourceVersionMatch=Exact on an older resourceVersion');
    let items = sorted(store[resource]).filter(matches);
    const token = q.get('continue');
    if (token) {
      let from: { rv: number; start: string };
      try {
        from = JSON.parse(Buffer.from(token, 'base64url').toString());
      } catch {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      if (from.rv < compactedRv) throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      items = items.filter((o) => o.metadata.name >= from.start);
    }
    const limit = Number(q.get('limit') ?? 0);
    const metadata: Obj = { resourceVersion: String(rv) };
    if (limit > 0 && items.length > limit) {
      metadata.continue = Buffer.from(JSON.stringify({ rv, start: items[limit].metadata.name })).toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    const { group, version, kind } = KINDS[resource];
    // List items carry no kind/apiVersion, as in the real API's answers.
    const bare = items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    return { kind: `${kind}List`, apiVersion: group ? `${group}/${version}` : version, metadata, items: bare };
  }

  /** Parses a resourceVersion parameter: 400 when malformed, 504 when newer than the store. */
  function checkResourceVersion(value: string | null): number | undefined {
    if (value === null || value === '' || value === '0') return undefined;
    if (!/^\d+$/.test(value)) throw badRequest(`invalid resource version: ${JSON.stringify(value)}`);
    const n = Number(value);
    if (n > rv) throw new ApiError(504, 'Timeout', `Too large resource version: ${n}, current: ${rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
    return n;
  }

  function watch(resource: Resource, q: URLSearchParams, matches: (o: Obj) => boolean, res: ServerResponse, entry: RecordedRequest): void {
    if (q.has('sendInitialEvents')) throw unsupported('sendInitialEvents');
    const from = checkResourceVersion(q.get('resourceVersion'));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    entry.status = 200;
    const w: Watcher = { resource, matches, res };
    if (from !== undefined && from < compactedRv) {
      // As the watch cache answers a compacted version: an ERROR event, then the end of the stream.
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedRv})`) }) + '\n');
      return;
    }
    if (from === undefined) {
      for (const obj of sorted(store[resource])) if (matches(obj)) emit(res, 'ADDED', obj);
    } else {
      for (const ch of history) if (ch.resource === resource && ch.rv > from) deliver(w, ch);
    }
    watchers.add(w);
    const timers: NodeJS.Timeout[] = [];
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => endWatch(w), timeout * 1000));
    if (parseBool(q.get('allowWatchBookmarks'))) {
      const { group, version, kind } = KINDS[resource];
      const bookmark = () => emit(res, 'BOOKMARK', { kind, apiVersion: group ? `${group}/${version}` : version, metadata: { resourceVersion: String(rv) } });
      timers.push(setInterval(bookmark, opts.bookmarkIntervalMs ?? 5000));
    }
    res.on('close', () => {
      watchers.delete(w);
      timers.forEach(clearTimeout);
    });
  }

  /** pods/log: the container's text; 400 while the container waits, as the kubelet answers. */
  function podLog(name: string, q: URLSearchParams): string {
    const pod = store.pods.get(name);
    if (!pod) throw notFound('pods', name);
    const containers: string[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Obj) => c.name);
    const container = q.get('container') ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0].name : undefined);
    if (!container) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    const statuses: Obj[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    const waiting = statuses.find((s) => s.name === container)?.state?.waiting;
    if (waiting) {
      const why = waiting.reason === 'ErrImagePull' ? "image can't be pulled" : waiting.reason === 'ImagePullBackOff' ? 'trying and failing to pull image' : waiting.reason;
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${why}`);
    }
    return logs.get(name) ?? '';
  }

  function authorized(info: RequestInfo, path: string): boolean {
    if (!info.isResource) return info.verb === 'get' && DISCOVERY_PATHS.some((p) => p.test(path));
    if (info.namespace !== ns) return false;
    const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const has = (list: readonly string[] | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));
    return rules.some((r) => has(r.apiGroups, info.group) && has(r.resources, resource) && has(r.verbs, info.verb) && (!r.resourceNames?.length || r.resourceNames.includes(info.name)));
  }

  function forbidden(info: RequestInfo, path: string): ApiError {
    if (!info.isResource) return new ApiError(403, 'Forbidden', `forbidden: User "${user}" cannot ${info.verb} path "${path}"`);
    const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const subject = info.name ? `${qualified(info.resource, info.group)} "${info.name}"` : qualified(info.resource, info.group);
    const scope = info.namespace ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
    return new ApiError(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${info.verb} resource "${resource}" in API group "${info.group}" ${scope}`, {
      ...(info.name ? { name: info.name } : {}),
      ...(info.group ? { group: info.group } : {}),
      kind: info.resource,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, entry: RecordedRequest, url: URL, text: string): Promise<void> {
    const warnings: string[] = [];
    const send = (code: number, body: Obj | string, headers: Record<string, string | string[]> = {}) => {
      const all = { ...headers, ...(warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) } : {}) };
      entry.status = code;
      if (typeof body === 'string') res.writeHead(code, { 'Content-Type': 'text/plain', ...all }).end(body);
      else res.writeHead(code, { 'Content-Type': 'application/json', ...all }).end(JSON.stringify(body));
    };
    try {
      const auth = req.headers.authorization ?? '';
      if (!/^bearer\s+/i.test(auth) || auth.replace(/^bearer\s+/i, '') !== opts.token) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const info = requestInfo(req.method ?? 'GET', url);
      if (!authorized(info, url.pathname)) throw forbidden(info, url.pathname);
      const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
      const i = failures.findIndex(({ match: m }) => (m.verb ?? info.verb) === info.verb && (m.resource ?? resource) === resource && (m.name ?? info.name) === info.name);
      if (i >= 0) {
        const [{ failure: f }] = failures.splice(i, 1);
        const details = f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : undefined;
        throw new ApiError(f.code, f.reason, f.message ?? `injected failure (${f.reason})`, details, f.retryAfterSeconds !== undefined ? { 'Retry-After': String(f.retryAfterSeconds) } : {});
      }
      let body: unknown;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw badRequest(`the object provided is unrecognized: ${(e as Error).message}`);
        }
        entry.body = body;
      }
      const q = url.searchParams;
      const kind = info.version === 'v1' && !info.subresource && (info.group === 'batch' && info.resource === 'jobs' ? 'jobs' : info.group === '' && info.resource === 'pods' ? 'pods' : undefined);
      if (kind) {
        const labelTest = labelSelector(q.get('labelSelector') ?? '');
        const fieldTest = fieldSelector(kind, q.get('fieldSelector') ?? '');
        // (A named watch, /watch/namespaces/{ns}/{resource}/{name}, watches that object only.)
        const matches = (o: Obj) => (!info.name || o.metadata.name === info.name) && labelTest(o.metadata.labels) && fieldTest(o);
        if (info.verb === 'get') {
          const obj = store[kind].get(info.name);
          if (!obj) throw notFound(kind, info.name);
          return send(200, obj);
        }
        if (info.verb === 'list') return send(200, list(kind, q, matches));
        if (info.verb === 'watch') return watch(kind, q, matches, res, entry);
        if (kind === 'jobs' && info.verb === 'create') return send(...(await createJob(req, q, body, warnings)));
        if (kind === 'jobs' && info.verb === 'delete') return send(...deleteJob(info.name, q, body, warnings));
        throw unsupported(`${info.verb} on ${kind}`);
      }
      if (info.version === 'v1' && info.group === '' && resource === 'pods/log' && info.verb === 'get') return send(200, podLog(info.name, q));
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      send(e.code, status(e.code, e.reason, e.message, e.details), e.headers);
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const info = requestInfo(req.method ?? 'GET', url);
    const entry: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), verb: info.verb, resource: info.subresource ? `${info.resource}/${info.subresource}` : info.resource, name: info.name };
    requests.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, entry, url, Buffer.concat(chunks).toString('utf8')).catch((e: unknown) => {
        entry.status = 500;
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(status(500, 'InternalError', `kube stand-in bug: ${String((e as Error)?.stack ?? e)}`)));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** Validates a whole object with the schema gate; throws the findings (for test-supplied statuses). */
  async function mustBeValid(obj: Obj, where: string): Promise<void> {
    const findings = await validateSchema(obj, where);
    if (findings.length) throw new Error(`kube stand-in: ${where}: invalid status:\n${findings.map(formatFinding).join('\n')}`);
  }

  async function setStatus(resource: Resource, name: string, status: unknown): Promise<Obj> {
    const current = store[resource].get(name);
    if (!current) throw new Error(`kube stand-in: no ${resource} named ${name} (have: ${[...store[resource].keys()].join(', ') || 'none'})`);
    const next = { ...structuredClone(current), status: typeof status === 'function' ? status(structuredClone(current)) : structuredClone(status) };
    await mustBeValid(next, `set ${resource}/${name} status`);
    if (store[resource].get(name) !== current) throw new Error(`kube stand-in: ${resource}/${name} changed while its status was being checked`);
    return put(resource, next);
  }

  return {
    url,
    jobs: store.jobs as unknown as ReadonlyMap<string, IJob>,
    pods: store.pods as unknown as ReadonlyMap<string, IPod>,
    requests,
    kubeconfig(token = opts.token) {
      return stringify({
        apiVersion: 'v1',
        kind: 'Config',
        // client-node refuses http:// servers unless TLS verification is declared skipped.
        clusters: [{ name: 'kube-standin', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'kube-standin', user: { token } }],
        contexts: [{ name: 'kube-standin', context: { cluster: 'kube-standin', user: 'kube-standin', namespace: ns } }],
        'current-context': 'kube-standin',
      });
    },
    setPodStatus: (name, s) => setStatus('pods', name, s) as Promise<IPod>,
    setJobStatus: (name, s) => setStatus('jobs', name, s) as Promise<IJob>,
    setPodLog(name, text) {
      if (!store.pods.has(name)) throw new Error(`kube stand-in: no pod named ${name}`);
      logs.set(name, text);
    },
    failNext(failure, match = {}) {
      failures.push({ failure, match });
    },
    compact() {
      history = [];
      compactedRv = rv;
    },
    endWatches() {
      watchers.forEach(endWatch);
    },
    async close() {
      watchers.forEach(endWatch);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Container statuses for every container of a pod, all in one state. */
function containerStatuses(pod: IPod, state: Obj, ready: boolean): Obj[] {
  return (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', ready, restartCount: 0, started: ready, state }));
}

function condition(type: string, ok: boolean, reason?: string, message?: string): Obj {
  return { type, status: ok ? 'True' : 'False', lastTransitionTime: now(), ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
}

/** Realistic pod statuses for setPodStatus, as the scheduler and kubelet report them. */
export const podStates = {
  /** Not schedulable, e.g. `0/1 nodes are available: 1 Insufficient memory.` */
  unschedulable: (message: string) => (): IPodStatus => ({ phase: 'Pending', conditions: [condition('PodScheduled', false, 'Unschedulable', message)] }) as IPodStatus,
  /** Scheduled, the image cannot be pulled: reason ErrImagePull (first failures) or ImagePullBackOff (then). */
  imagePullFailing:
    (reason: 'ErrImagePull' | 'ImagePullBackOff', message = 'Back-off pulling image') =>
    (pod: IPod): IPodStatus =>
      ({
        phase: 'Pending',
        startTime: now(),
        conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('Ready', false, 'ContainersNotReady'), condition('ContainersReady', false, 'ContainersNotReady')],
        containerStatuses: containerStatuses(pod, { waiting: { reason, message } }, false),
      }) as IPodStatus,
  /** Running (and Ready when `ready`). */
  running:
    (ready = true) =>
    (pod: IPod): IPodStatus =>
      ({
        phase: 'Running',
        startTime: now(),
        conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('Ready', ready), condition('ContainersReady', ready)],
        containerStatuses: containerStatuses(pod, { running: { startedAt: now() } }, ready),
      }) as IPodStatus,
  /** Every container exited; phase Succeeded when the exit code is 0, else Failed. */
  terminated:
    (exitCode = 0, reason = exitCode === 0 ? 'Completed' : 'Error') =>
    (pod: IPod): IPodStatus =>
      ({
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        startTime: now(),
        conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('Ready', false, 'PodCompleted'), condition('ContainersReady', false, 'PodCompleted')],
        containerStatuses: containerStatuses(pod, { terminated: { exitCode, reason, startedAt: now(), finishedAt: now() } }, false),
      }) as IPodStatus,
};

/** Realistic Job statuses for setJobStatus, as the Job controller writes them. */
export const jobStates = {
  succeeded: (): IJobStatus => ({ succeeded: 1, active: 0, ready: 0, terminating: 0, startTime: now(), completionTime: now(), uncountedTerminatedPods: {}, conditions: [condition('SuccessCriteriaMet', true, 'CompletionsReached', 'Reached expected number of succeeded pods'), condition('Complete', true, 'CompletionsReached', 'Reached expected number of succeeded pods')] }) as IJobStatus,
  /** E.g. `DeadlineExceeded` / `Job was active longer than specified deadline`, or `BackoffLimitExceeded` / `Job has reached the specified backoff limit`. */
  failed: (reason: string, message: string): IJobStatus => ({ failed: 1, active: 0, ready: 0, terminating: 0, startTime: now(), uncountedTerminatedPods: {}, conditions: [condition('FailureTarget', true, reason, message), condition('Failed', true, reason, message)] }) as IJobStatus,
};
