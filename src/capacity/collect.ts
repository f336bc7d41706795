/**
 * Reads the platform's requests off a built cdk8s app: every API object of a kind that requests
 * resources, except those labelled as part of an agent pool (their size is what the planner decides,
 * so they are never resolved here). Other kinds (ConfigMaps among them, which may render the plan's
 * pool sizes) are never resolved either.
 */
import { ApiObject, Chart } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { REQUESTING_KINDS, objectRequestLines, type RequestLine } from './requests.js';

/** Label on every object of an agent pool (value: the pool name); the planner skips them. */
import { AGENT_POOL_LABEL } from '../agents/contract.js';
export { AGENT_POOL_LABEL };

/** Request lines of every non-pool object under `root` (usually the App), in construct order. */
export function platformRequestLines(root: IConstruct): RequestLine[] {
  const lines: RequestLine[] = [];
  for (const c of root.node.findAll()) {
    if (!ApiObject.isApiObject(c) || !REQUESTING_KINDS.has(c.kind) || c.metadata.getLabel(AGENT_POOL_LABEL) !== undefined) continue;
    lines.push(...objectRequestLines(Chart.of(c).node.id, c.toJson()));
  }
  return lines;
}
