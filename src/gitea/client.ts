/**
 * The runtime's Gitea client: gitea-js (generated from Gitea's swagger, so request bodies are typed)
 * with a timeout on every request and retries with backoff and jitter for transient failures
 * (network errors, 429, 5xx). Used by the API, the agents and the mirror; no cdk8s here.
 */
import { giteaApi, type CommitStatusState } from 'gitea-js';

export interface GiteaSettings {
  /** Base URL, without /api/v1. */
  readonly url: string;
  readonly token: string;
  /** Per-request timeout, ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Attempts for a transient failure. @default 4 */
  readonly attempts?: number;
}

/** A failed Gitea call; `status` is the HTTP status (0 for a network error or timeout). */
export class GiteaError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface CommitStatusInput {
  readonly state: CommitStatusState;
  readonly context: string;
  readonly description: string;
  readonly targetUrl: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gitea keeps at most 255 characters of a status description. */
export const STATUS_DESCRIPTION_MAX = 255;

export class GiteaClient {
  private readonly api;
  private readonly attempts: number;

  constructor(readonly settings: GiteaSettings) {
    const timeoutMs = settings.timeoutMs ?? 10_000;
    this.attempts = settings.attempts ?? 4;
    this.api = giteaApi(settings.url.replace(/\/$/, ''), {
      token: settings.token,
      customFetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    });
  }

  /** Runs one call with retries; a 404 resolves to undefined when `missingOk`. */
  private async call<T>(what: string, fn: () => Promise<{ data: T }>, missingOk = false): Promise<T | undefined> {
    let last: GiteaError | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        return (await fn()).data;
      } catch (e) {
        const status = typeof (e as { status?: unknown }).status === 'number' ? (e as { status: number }).status : 0;
        if (status === 404 && missingOk) return undefined;
        const body = (e as { error?: { message?: string } }).error?.message;
        last = new GiteaError(status, `Gitea ${what}: ${status ? `HTTP ${status}` : (e as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable'}${body ? `: ${body}` : ''}`);
        const transient = status === 0 || status === 429 || status >= 500;
        if (!transient || attempt === this.attempts) break;
        await sleep(Math.min(250 * 2 ** (attempt - 1), 4_000) + Math.random() * 200);
      }
    }
    throw last;
  }

  /** Sets a commit status (POST /repos/{owner}/{repo}/statuses/{sha}). */
  async setStatus(repo: string, sha: string, s: CommitStatusInput): Promise<void> {
    const [owner, name] = splitRepo(repo);
    const description = s.description.length > STATUS_DESCRIPTION_MAX ? `${s.description.slice(0, STATUS_DESCRIPTION_MAX - 1)}…` : s.description;
    await this.call(`status for ${repo}@${sha.slice(0, 12)}`, () => this.api.repos.repoCreateStatus(owner, name, sha, { state: s.state, context: s.context, description, target_url: s.targetUrl }));
  }

  /** A file's text at a ref, or undefined when the file (or the repository) does not exist. */
  async fileAt(repo: string, path: string, ref: string): Promise<string | undefined> {
    const [owner, name] = splitRepo(repo);
    const c = await this.call(`contents of ${path} in ${repo}`, () => this.api.repos.repoGetContents(owner, name, path, { ref }), true);
    if (!c || c.type !== 'file' || typeof c.content !== 'string') return undefined;
    return Buffer.from(c.content, c.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8');
  }

  /** A repository, or undefined when it does not exist (or the bot cannot see it). */
  async repo(repo: string): Promise<{ cloneUrl: string; defaultBranch: string; owner: string } | undefined> {
    const [owner, name] = splitRepo(repo);
    const r = await this.call(`repository ${repo}`, () => this.api.repos.repoGet(owner, name), true);
    if (!r) return undefined;
    return { cloneUrl: r.clone_url ?? '', defaultBranch: r.default_branch ?? 'main', owner: r.owner?.login ?? owner };
  }

  /** The commit a branch, tag or sha names, with its title; undefined when unknown. */
  async commit(repo: string, ref: string): Promise<{ sha: string; title: string } | undefined> {
    const [owner, name] = splitRepo(repo);
    const list = await this.call(`commit ${ref} of ${repo}`, () => this.api.repos.repoGetAllCommits(owner, name, { sha: ref, limit: 1, stat: false, verification: false, files: false }), true);
    const c = list?.[0];
    if (!c?.sha) return undefined;
    return { sha: c.sha, title: (c.commit?.message ?? '').split('\n')[0] };
  }
}

/** `owner/name` → [owner, name]. */
export function splitRepo(repo: string): [string, string] {
  const i = repo.indexOf('/');
  return [repo.slice(0, i), repo.slice(i + 1)];
}
