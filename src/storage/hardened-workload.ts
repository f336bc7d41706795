/**
 * What every stateful platform workload (Gitea, PostgreSQL, Redis) shares on top of cdk8s-plus: the
 * restricted container security context, requests and limits from raibid.yaml, and explicit label
 * selection instead of cdk8s-plus's construct-path hash labels.
 */
import { ApiObject, JsonPatch, Size } from 'cdk8s';
import { Capability, Cpu, SeccompProfileType, type ContainerResources, type ContainerSecurityContextProps, type Service, type Workload } from 'cdk8s-plus-28';
import { bytes, cpuMillis } from '../config/quantity.js';
import type { Resources } from '../config/types.js';

/** CPU and memory a component requests from the scheduler (what counts against the node). */
export interface Requests {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

/** Nothing requested. */
export const NO_REQUESTS: Requests = { cpuMillis: 0, memoryBytes: 0 };

/** Sum of several requests. */
export function sumRequests(...all: readonly Requests[]): Requests {
  return all.reduce((a, b) => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes }), NO_REQUESTS);
}

/** What one pod reserves: the larger of its app containers' sum and its largest init container (per resource). */
export function podRequests(containers: readonly Requests[], initContainers: readonly Requests[] = []): Requests {
  const app = sumRequests(...containers);
  return {
    cpuMillis: Math.max(app.cpuMillis, ...initContainers.map((r) => r.cpuMillis)),
    memoryBytes: Math.max(app.memoryBytes, ...initContainers.map((r) => r.memoryBytes)),
  };
}

/** The requests of a `resources` block of raibid.yaml. */
export function requestsOf(r: Resources): Requests {
  return { cpuMillis: cpuMillis(r.cpu), memoryBytes: bytes(r.memory) };
}

function mebibytes(q: string, key: string): Size {
  const n = bytes(q) / 2 ** 20;
  if (!Number.isInteger(n) || n < 1) throw new Error(`'${key}' (${JSON.stringify(q)}) must be a whole number of MiB, such as "256Mi" or "2Gi"`);
  return Size.mebibytes(n);
}

/**
 * cdk8s-plus resources from a `resources` block: CPU and memory requests, the memory limit, and a CPU
 * limit only when one is configured (none by default: idle cores may be used).
 * @param key the raibid.yaml path of the block, named in error messages
 */
export function containerResources(r: Resources, key: string): ContainerResources {
  return {
    cpu: { request: Cpu.millis(cpuMillis(r.cpu)), ...(r.cpuLimit !== undefined ? { limit: Cpu.millis(cpuMillis(r.cpuLimit)) } : {}) },
    memory: { request: mebibytes(r.memory, `${key}.memory`), limit: mebibytes(r.memoryLimit, `${key}.memoryLimit`) },
  };
}

/**
 * The restricted-profile container security context: non-root with the image's numeric user, no
 * privilege escalation, every capability dropped, seccomp RuntimeDefault, read-only root filesystem.
 */
export function restrictedContainer(user: number, group: number): ContainerSecurityContextProps {
  return {
    user,
    group,
    ensureNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: [Capability.ALL] },
    seccompProfile: { type: SeccompProfileType.RUNTIME_DEFAULT },
  };
}

/** What {@link finishWorkload} sets on a workload beyond what cdk8s-plus can express. */
export interface FinishOptions {
  /**
   * PriorityClass of the pods (cdk8s-plus-28 has no field for it). The platform workloads pass
   * PLATFORM_PRIORITY_CLASS from src/scheduling/priority-classes.ts, so under node memory pressure the
   * kubelet evicts agents before them.
   */
  readonly priorityClassName: string;
  /** The governing Service of a StatefulSet, whose selector cdk8s-plus points at its hash label. */
  readonly governingService?: Service;
}

/**
 * Removes what cdk8s-plus adds that raibid-ci does not want, and sets what it cannot, through JSON patches
 * on the rendered objects (cdk8s-plus has no option for any of these):
 * - the `cdk8s.io/metadata.addr` label (a hash of the construct path) from the pod template, and from the
 *   selector of a StatefulSet's governing Service, which cdk8s-plus always points at that label; workloads
 *   here select the stable labels of src/labels.ts instead, so renaming a construct changes nothing;
 * - Service links (`enableServiceLinks: false`): Kubernetes would otherwise inject `REDIS_PORT=tcp://…`
 *   style variables for every Service of the namespace, which collide with real settings;
 * - `priorityClassName` of the pod template.
 */
export function finishWorkload(workload: Workload, opts: FinishOptions): void {
  const ADDRESS = '/cdk8s.io~1metadata.addr';
  ApiObject.of(workload).addJsonPatch(
    JsonPatch.remove(`/spec/template/metadata/labels${ADDRESS}`),
    JsonPatch.add('/spec/template/spec/enableServiceLinks', false),
    JsonPatch.add('/spec/template/spec/priorityClassName', opts.priorityClassName),
  );
  if (opts.governingService) ApiObject.of(opts.governingService).addJsonPatch(JsonPatch.remove(`/spec/selector${ADDRESS}`));
}
