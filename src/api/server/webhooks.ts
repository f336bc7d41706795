/**
 * Gitea webhook deliveries: signature check and what a push or pull_request event asks for. Only the
 * fields raibid-ci reads are checked (Gitea sends many more), each with its path in the error.
 * @see Gitea's PushPayload and PullRequestPayload (modules/structs/hook.go)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Whether `signature` (hex) is the HMAC-SHA256 of `body` with `secret`; constant time. */
export function verifySignature(secret: string, body: Buffer, signature: string | undefined): boolean {
  if (!signature || !/^[0-9a-fA-F]{64}$/.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

const user = z.object({ login: z.string().optional(), username: z.string().optional() }).loose();
const repository = z
  .object({
    full_name: z.string().regex(/^[^/\s]+\/[^/\s]+$/, { error: 'expected owner/name' }),
    clone_url: z.string().min(1),
    owner: user.optional(),
    default_branch: z.string().optional(),
  })
  .loose();
const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, { error: 'expected a commit SHA' });

export const pushPayloadSchema = z
  .object({
    ref: z.string().regex(/^refs\//, { error: 'expected a full ref such as refs/heads/main' }),
    before: z.string().optional(),
    after: sha,
    head_commit: z.object({ id: z.string(), message: z.string() }).loose().nullish(),
    commits: z.array(z.object({ id: z.string(), message: z.string() }).loose()).nullish(),
    repository,
    pusher: user.nullish(),
    sender: user.nullish(),
  })
  .loose();

export const pullRequestPayloadSchema = z
  .object({
    action: z.string(),
    number: z.number().int().min(1),
    pull_request: z
      .object({
        title: z.string().optional(),
        head: z.object({ sha, ref: z.string().optional() }).loose(),
        base: z.object({ ref: z.string().optional() }).loose().optional(),
      })
      .loose(),
    repository,
    sender: user.nullish(),
  })
  .loose();

export const HANDLED_EVENTS = ['push', 'pull_request'] as const;
/** pull_request actions that run CI. */
export const PR_ACTIONS = ['opened', 'synchronized', 'reopened'] as const;
const ZERO_SHA = /^0+$/;
const SKIP_CI = /\[(skip ci|ci skip)\]/i;

/** What a delivery asks for: a job, or nothing (with why). */
export type WebhookIntent =
  | { readonly kind: 'job'; readonly event: 'push' | 'pull_request'; readonly repo: string; readonly owner: string; readonly cloneUrl: string; readonly ref: string; readonly branch?: string; readonly sha: string; readonly title: string; readonly actor?: string; readonly pr?: string }
  | { readonly kind: 'skip'; readonly reason: string };

/** A payload raibid-ci cannot read; `problems` name the fields. */
export class PayloadError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

function check<T>(schema: z.ZodType<T>, payload: unknown): T {
  const r = schema.safeParse(payload);
  if (!r.success) throw new PayloadError(r.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`));
  return r.data;
}

/** Reads a delivery. Throws PayloadError when a field raibid-ci needs is missing or malformed. */
export function readDelivery(event: 'push' | 'pull_request', payload: unknown, opts: { tagPushes: boolean }): WebhookIntent {
  if (event === 'push') {
    const p = check(pushPayloadSchema, payload);
    const repo = p.repository.full_name;
    const owner = repo.split('/')[0];
    if (ZERO_SHA.test(p.after)) return { kind: 'skip', reason: `${p.ref} was deleted` };
    const isTag = p.ref.startsWith('refs/tags/');
    if (isTag && !opts.tagPushes) return { kind: 'skip', reason: `tag pushes do not run CI (jobs.tagPushes is false): ${p.ref}` };
    if (!isTag && !p.ref.startsWith('refs/heads/')) return { kind: 'skip', reason: `${p.ref} is neither a branch nor a tag` };
    const message = p.head_commit?.message ?? p.commits?.find((c) => c.id === p.after)?.message ?? '';
    if (SKIP_CI.test(message)) return { kind: 'skip', reason: 'the head commit asks to skip CI ([skip ci])' };
    return {
      kind: 'job',
      event: 'push',
      repo,
      owner,
      cloneUrl: p.repository.clone_url,
      ref: p.ref,
      branch: isTag ? undefined : p.ref.slice('refs/heads/'.length),
      sha: p.after,
      title: message.split('\n')[0],
      actor: p.pusher?.login ?? p.pusher?.username ?? p.sender?.login,
    };
  }
  const p = check(pullRequestPayloadSchema, payload);
  const repo = p.repository.full_name;
  if (!(PR_ACTIONS as readonly string[]).includes(p.action)) return { kind: 'skip', reason: `pull request action ${JSON.stringify(p.action)} does not run CI (only ${PR_ACTIONS.join(', ')})` };
  return {
    kind: 'job',
    event: 'pull_request',
    repo,
    owner: repo.split('/')[0],
    cloneUrl: p.repository.clone_url,
    ref: `refs/pull/${p.number}/head`,
    branch: p.pull_request.base?.ref,
    sha: p.pull_request.head.sha,
    title: p.pull_request.title ?? `pull request #${p.number}`,
    actor: p.sender?.login,
    pr: String(p.number),
  };
}
