/**
 * What a job looks like in Gitea: one commit status per job, context `raibid-ci/<pool>`, linking to the
 * job's log on the API. Cancelled jobs show as failure ("cancelled by …"), lost and dead ones as error.
 */
import type { CommitStatusInput } from '../gitea/client.js';
import type { JobRecord } from './record.js';

export const STATUS_CONTEXT_PREFIX = 'raibid-ci/';

export function statusContext(pool: string): string {
  return `${STATUS_CONTEXT_PREFIX}${pool}`;
}

/** The job's log URL on the API's public address. */
export function jobLogUrl(publicUrl: string, id: string): string {
  return new URL(`api/v1/jobs/${id}/logs`, publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`).toString();
}

function seconds(r: JobRecord): string {
  if (r.startedAt === undefined || r.finishedAt === undefined) return '';
  return ` in ${Math.max(0, Math.round((r.finishedAt - r.startedAt) / 1000))}s`;
}

/** The commit status for a record in its current state. */
export function commitStatus(r: JobRecord, publicUrl: string): CommitStatusInput {
  const base = { context: statusContext(r.pool), targetUrl: jobLogUrl(publicUrl, r.id) };
  const failed = r.steps.find((s) => s.status === 'failure' || s.status === 'timeout' || s.status === 'error');
  switch (r.status) {
    case 'queued':
      return { ...base, state: 'pending', description: r.attempt > 1 ? `queued again (attempt ${r.attempt})${r.reason ? `: ${r.reason}` : ''}` : `queued on ${r.pool}` };
    case 'running':
      return { ...base, state: 'pending', description: `running on ${r.agent ?? 'an agent'}` };
    case 'success':
      return { ...base, state: 'success', description: `passed${seconds(r)}` };
    case 'failure':
      return { ...base, state: 'failure', description: failed ? `failed at ${failed.name}${failed.exitCode !== null ? ` (exit ${failed.exitCode})` : ''}${failed.reason ? `: ${failed.reason}` : ''}` : `failed${r.reason ? `: ${r.reason}` : ''}` };
    case 'cancelled':
      return { ...base, state: 'failure', description: r.reason ?? 'cancelled' };
    case 'dead':
      return { ...base, state: 'error', description: `gave up after ${r.attempt} attempts: ${r.reason ?? 'the agent was lost'}` };
    case 'error':
      return { ...base, state: 'error', description: r.reason ?? 'error' };
  }
}
