/**
 * Webhook deliveries shaped like the ones Gitea 1.27 sends (webhook type "gitea"), for tests of code that
 * receives them. Built by reading Gitea v1.27.0-rc0:
 *  - payload structs: modules/structs/hook.go (PushPayload, PayloadCommit, PayloadUser, PullRequestPayload),
 *    modules/structs/pull.go (PullRequest, PRBranchInfo), modules/structs/repo.go and user.go;
 *  - how they are filled: services/webhook/notifier.go (PushCommits, NewPullRequest, PullRequestSynchronized,
 *    IssueChangeStatus, MergePullRequest), modules/repository/commits.go, services/convert/pull.go;
 *  - how they are sent: services/webhook/deliver.go (headers, HMAC signatures) and webhook.go (the body is the
 *    payload encoded by Go's json.MarshalIndent with two spaces).
 * Keys are written in Go struct order, so the body text matches what Gitea would send for the same data.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { repositoryJson, userJson, type UserShapeInput } from './gitea-standin.js';

/** The all-zero SHA Gitea puts in `before` for a new branch and in `after` for a deleted one. */
export const ZERO_SHA = '0'.repeat(40);

/** Gitea's HookEventType values we build deliveries for (modules/webhook/type.go). */
export type HookEventType = 'push' | 'create' | 'delete' | 'pull_request' | 'pull_request_sync';

/**
 * The `X-Gitea-Event` value for an event type (HookEventType.Event()): the pull-request family is reported as
 * "pull_request" while `X-Gitea-Event-Type` keeps the precise type, e.g. "pull_request_sync".
 */
export function eventHeaderFor(type: HookEventType): string {
  return type === 'pull_request_sync' ? 'pull_request' : type;
}

export interface HookUserInput { id?: number; login: string; fullName?: string; email?: string }
export interface HookRepoInput {
  id?: number;
  owner: HookUserInput;
  name: string;
  private?: boolean;
  defaultBranch?: string;
  description?: string;
}
export interface HookCommitInput {
  id: string;
  message: string;
  author?: { name: string; email: string; username?: string };
  committer?: { name: string; email: string; username?: string };
  /** RFC 3339; default 2025-01-01T00:00:00Z. */
  timestamp?: string;
  added?: string[];
  removed?: string[];
  modified?: string[];
}

const DEFAULT_TIME = '2025-01-01T00:00:00Z';
const SHA = /^[0-9a-f]{40}$/;

function requireSha(name: string, value: string): void {
  if (!SHA.test(value)) throw new Error(`gitea-webhooks: ${name} must be a 40-character hex SHA, got ${JSON.stringify(value)}`);
}
/** Gitea's AppURL always ends with a slash; URLs in payloads are built on it. */
function appUrl(baseUrl: string): string {
  return baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
}
function userShape(u: HookUserInput): UserShapeInput {
  const id = u.id ?? (Number.parseInt(createHash('sha1').update(u.login).digest('hex').slice(0, 6), 16) % 100_000) + 1;
  return { id, login: u.login, fullName: u.fullName ?? '', email: u.email };
}
/** A User as a webhook shows it: Gitea converts with no viewer, so the e-mail is the no-reply placeholder. */
function hookUser(baseUrl: string, u: HookUserInput): Record<string, unknown> {
  return userJson(appUrl(baseUrl).slice(0, -1), userShape(u), false);
}
/** The repository as webhooks show it: converted with owner permission (notifier.go PushCommits). */
function hookRepo(baseUrl: string, r: HookRepoInput): Record<string, unknown> {
  return repositoryJson(appUrl(baseUrl).slice(0, -1), {
    id: r.id ?? 1, owner: userShape(r.owner), name: r.name, private: r.private, description: r.description,
    defaultBranch: r.defaultBranch ?? 'main', permissions: { admin: true, push: true, pull: true },
  });
}

/** PayloadCommit (hook.go). Gitea leaves `verification` empty in push payloads; file lists are [] when empty. */
function payloadCommit(baseUrl: string, repo: HookRepoInput, c: HookCommitInput): Record<string, unknown> {
  requireSha('commit id', c.id);
  const author = c.author ?? { name: 'Gitea Stand-in', email: 'standin@example.invalid' };
  const committer = c.committer ?? author;
  return {
    id: c.id,
    message: c.message,
    url: `${appUrl(baseUrl)}${repo.owner.login}/${repo.name}/commit/${c.id}`,
    author: { name: author.name, email: author.email, username: author.username ?? '' },
    committer: { name: committer.name, email: committer.email, username: committer.username ?? '' },
    verification: null,
    timestamp: c.timestamp ?? DEFAULT_TIME,
    added: c.added ?? [],
    removed: c.removed ?? [],
    modified: c.modified ?? [],
  };
}

export interface PushPayloadInput {
  /** Gitea's ROOT_URL, e.g. the stand-in's url. */
  baseUrl: string;
  repo: HookRepoInput;
  /** Full ref name, e.g. refs/heads/main or refs/tags/v1. */
  ref: string;
  before: string;
  after: string;
  /** Newest first, as Gitea lists them; Gitea sends at most 5 ([ui] FEED_MAX_COMMIT_NUM) and counts all in total_commits. */
  commits: HookCommitInput[];
  /** Default: the commit whose id is `after`, else the first of `commits`. */
  headCommit?: HookCommitInput;
  /** Default: commits.length. */
  totalCommits?: number;
  /** Default: ROOT_URL + owner/repo/compare/before...after, or ROOT_URL alone when `before` is the zero SHA. */
  compareUrl?: string;
  pusher: HookUserInput;
  /** Gitea sends the pusher as sender for pushes; default pusher. */
  sender?: HookUserInput;
}

/** A PushPayload (event "push"), filled the way services/webhook/notifier.go PushCommits fills it. */
export function pushPayload(input: PushPayloadInput): Record<string, unknown> {
  if (!input.ref.startsWith('refs/')) throw new Error(`gitea-webhooks: ref must be a full ref name (refs/heads/…), got ${JSON.stringify(input.ref)}`);
  requireSha('before', input.before);
  requireSha('after', input.after);
  const shown = input.commits.slice(0, 5);
  const head = input.headCommit ?? input.commits.find((c) => c.id === input.after) ?? input.commits[0];
  const compare = input.compareUrl ?? (input.before === ZERO_SHA
    ? appUrl(input.baseUrl) // Gitea: an empty compare path leaves just ROOT_URL
    : `${appUrl(input.baseUrl)}${input.repo.owner.login}/${input.repo.name}/compare/${input.before}...${input.after}`);
  return {
    ref: input.ref,
    before: input.before,
    after: input.after,
    compare_url: compare,
    commits: shown.map((c) => payloadCommit(input.baseUrl, input.repo, c)),
    total_commits: input.totalCommits ?? input.commits.length,
    head_commit: head ? payloadCommit(input.baseUrl, input.repo, head) : null,
    repository: hookRepo(input.baseUrl, input.repo),
    pusher: hookUser(input.baseUrl, input.pusher),
    sender: hookUser(input.baseUrl, input.sender ?? input.pusher),
  };
}

export type PullRequestAction = 'opened' | 'synchronized' | 'reopened' | 'closed';

export interface PullRequestPayloadInput {
  baseUrl: string;
  action: PullRequestAction;
  /** The pull request's number (index) in the base repository. */
  number: number;
  /** Database id; default the number. */
  id?: number;
  title?: string;
  body?: string;
  /** The base repository (where the pull request lives). */
  repo: HookRepoInput;
  /** The head repository; default the base repository (a branch of the same repository). */
  headRepo?: HookRepoInput;
  base: { ref: string; sha: string };
  head: { ref: string; sha: string };
  /** Who opened it; default the sender. */
  poster?: HookUserInput;
  sender: HookUserInput;
  /** For "synchronized": the head SHA before and after the push. */
  before?: string;
  after?: string;
  /** For "closed" by merging. */
  merged?: { sha: string; by?: HookUserInput; at?: string };
  mergeBase?: string;
  created?: string;
  updated?: string;
  additions?: number;
  deletions?: number;
  changedFiles?: number;
}

/**
 * A PullRequestPayload (event "pull_request"; "synchronized" goes out as event type "pull_request_sync").
 * Fields as in services/convert/pull.go ToAPIPullRequest; `label` is the bare branch name in Gitea.
 */
export function pullRequestPayload(input: PullRequestPayloadInput): Record<string, unknown> {
  if (!['opened', 'synchronized', 'reopened', 'closed'].includes(input.action)) throw new Error(`gitea-webhooks: unsupported action ${input.action}`);
  requireSha('base.sha', input.base.sha);
  requireSha('head.sha', input.head.sha);
  if (input.action === 'synchronized') {
    requireSha('before', input.before ?? '');
    requireSha('after', input.after ?? '');
  }
  if (input.merged && input.action !== 'closed') throw new Error('gitea-webhooks: only a "closed" pull request can be merged');
  if (input.merged) requireSha('merged.sha', input.merged.sha);
  const base = appUrl(input.baseUrl);
  const headRepo = input.headRepo ?? input.repo;
  const html = `${base}${input.repo.owner.login}/${input.repo.name}/pulls/${input.number}`;
  const created = input.created ?? DEFAULT_TIME;
  const updated = input.updated ?? created;
  const closed = input.action === 'closed';
  const pull: Record<string, unknown> = {
    id: input.id ?? input.number,
    url: html,
    number: input.number,
    user: hookUser(input.baseUrl, input.poster ?? input.sender),
    title: input.title ?? `Pull request #${input.number}`,
    body: input.body ?? '',
    labels: [],
    milestone: null,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_reviewers_teams: [],
    state: closed ? 'closed' : 'open',
    draft: false,
    is_locked: false,
    comments: 0,
    additions: input.additions ?? 0,
    deletions: input.deletions ?? 0,
    changed_files: input.changedFiles ?? 0,
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    mergeable: !closed, // stand-in assumption: Gitea reports the stored mergeability; an open, clean PR is mergeable
    merged: Boolean(input.merged),
    merged_at: input.merged ? input.merged.at ?? updated : null,
    merge_commit_sha: input.merged ? input.merged.sha : null,
    merged_by: input.merged ? hookUser(input.baseUrl, input.merged.by ?? input.sender) : null,
    allow_maintainer_edit: false,
    base: { label: input.base.ref, ref: input.base.ref, sha: input.base.sha, repo_id: input.repo.id ?? 1, repo: hookRepo(input.baseUrl, input.repo) },
    head: { label: input.head.ref, ref: input.head.ref, sha: input.head.sha, repo_id: headRepo.id ?? 1, repo: hookRepo(input.baseUrl, headRepo) },
    merge_base: input.mergeBase ?? input.base.sha,
    due_date: null,
    created_at: created,
    updated_at: updated,
    closed_at: closed ? updated : null,
    pin_order: 0,
    content_version: 0,
  };
  return {
    action: input.action,
    // omitempty in Gitea: only the "synchronized" delivery carries before/after
    ...(input.action === 'synchronized' ? { before: input.before, after: input.after } : {}),
    number: input.number,
    pull_request: pull,
    requested_reviewer: null,
    repository: hookRepo(input.baseUrl, input.repo),
    sender: hookUser(input.baseUrl, input.sender),
    commit_id: '',
    review: null,
  };
}

/**
 * JSON text as Go's json.MarshalIndent(v, "", "  ") writes it: two-space indent and Go's HTML-safe escaping of
 * <, >, & and the line/paragraph separators.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface SignedDelivery { headers: Record<string, string>; body: string }

/**
 * The HTTP request Gitea would POST for `payload`: the body text and every header services/webhook/deliver.go
 * adds. Signatures are hex HMACs of the exact body bytes with the webhook secret (SHA-256, plus SHA-1 for the
 * GitHub-style X-Hub-Signature); with an empty secret Gitea sends empty signatures. A "pull_request" delivery
 * whose action is "synchronized" is sent with event type "pull_request_sync", as Gitea does.
 */
export function signedDelivery(
  secret: string,
  event: HookEventType,
  payload: object,
  deliveryId: string = randomUUID(),
  opts: { targetType?: 'repository' | 'organization' | 'user' | 'system' | 'default' } = {},
): SignedDelivery {
  const eventType: HookEventType = event === 'pull_request' && (payload as { action?: unknown }).action === 'synchronized' ? 'pull_request_sync' : event;
  const eventName = eventHeaderFor(eventType);
  const body = goJson(payload);
  const sig256 = secret ? createHmac('sha256', secret).update(body, 'utf8').digest('hex') : '';
  const sig1 = secret ? createHmac('sha1', secret).update(body, 'utf8').digest('hex') : '';
  const target = opts.targetType ?? 'repository';
  return {
    headers: {
      'content-type': 'application/json',
      // Go's HTTP client identifies itself like this; Gitea does not set a User-Agent for webhooks
      'user-agent': 'Go-http-client/1.1',
      'x-gitea-delivery': deliveryId,
      'x-gitea-event': eventName,
      'x-gitea-event-type': eventType,
      'x-gitea-signature': sig256,
      'x-gitea-hook-installation-target-type': target,
      'x-gogs-delivery': deliveryId,
      'x-gogs-event': eventName,
      'x-gogs-event-type': eventType,
      'x-gogs-signature': sig256,
      'x-hub-signature': `sha1=${sig1}`,
      'x-hub-signature-256': `sha256=${sig256}`,
      'x-github-delivery': deliveryId,
      'x-github-event': eventName,
      'x-github-event-type': eventType,
      'x-github-hook-installation-target-type': target,
    },
    body,
  };
}
