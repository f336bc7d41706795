/**
 * The few GitHub REST operations the mirrors need, with GitHub's rules for well-behaved clients:
 *
 *   repos/get            GET /repos/{owner}/{repo}                one repository
 *   repos/list-for-org   GET /orgs/{org}/repos?type=all           an organisation's repositories
 *   repos/list-for-user  GET /users/{username}/repos?type=owner   a user's (when the owner is no organisation)
 *
 * - Pages of 100 (`per_page=100`), following the `Link: <…>; rel="next"` header exactly as given (GitHub
 *   links organisation pages as /organizations/{id}/repos), and only to the API's own origin.
 * - Requests one at a time. The primary rate limit: `x-ratelimit-remaining` / `x-ratelimit-reset` are read
 *   from every answer; at 0 the client waits for the reset before its next request (a 403/429 with
 *   remaining 0 is waited out the same way). Secondary limits: a 403/429 with `retry-after` waits that
 *   long; one without waits a minute, then longer each time. No wait may exceed `maxWaitSeconds`.
 * - Network errors and 5xx are retried with backoff and jitter; every request has a timeout.
 * - The token goes only into the Authorization header, and never into a message.
 * @see https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
 * @see https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api
 */

/** The fields of GitHub's minimal-repository / full-repository the mirrors read. */
export interface GitHubRepo {
  readonly name: string;
  /** `owner/name` */
  readonly fullName: string;
  readonly private: boolean;
  readonly fork: boolean;
  readonly archived: boolean;
  readonly disabled: boolean;
  readonly cloneUrl: string;
  readonly description: string | null;
}

/** A GitHub call that failed for good; `status` 0 for the network. */
export class GitHubError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GitHubError';
  }
}

export interface GitHubClientOptions {
  /** API base, e.g. https://api.github.com */
  readonly apiUrl: string;
  /** Empty or undefined: anonymous (public repositories, 60 requests an hour). */
  readonly token?: string;
  readonly userAgent: string;
  /** Longest single wait for a rate limit, seconds. @default 900 */
  readonly maxWaitSeconds?: number;
  /** Per-request timeout, ms. @default 30000 */
  readonly timeoutMs?: number;
  /** Attempts per request (network, 5xx, rate limits). @default 6 */
  readonly attempts?: number;
  /** Called before each wait (rate limit or retry), for the log. */
  readonly onWait?: (w: { readonly reason: 'rate-limit' | 'secondary-rate-limit' | 'retry'; readonly seconds: number; readonly status?: number }) => void;
  /** For tests: how to wait. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** GitHub's REST API version the requests ask for. */
export const GITHUB_API_VERSION = '2022-11-28';

/** `<url>; rel="next"` of a Link header. */
export function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2].split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}

type Json = Record<string, unknown>;

function toRepo(r: Json): GitHubRepo {
  return {
    name: String(r.name),
    fullName: String(r.full_name),
    private: r.private === true,
    fork: r.fork === true,
    archived: r.archived === true,
    disabled: r.disabled === true,
    cloneUrl: String(r.clone_url ?? ''),
    description: typeof r.description === 'string' ? r.description : null,
  };
}

export class GitHubClient {
  private readonly base: URL;
  private readonly maxWaitMs: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Rate limit as of the last answer. */
  private remaining?: number;
  private resetAt?: number;
  /** Requests sent (for the summary). */
  requests = 0;

  constructor(private readonly o: GitHubClientOptions) {
    this.base = new URL(o.apiUrl.replace(/\/+$/, '') + '/');
    this.maxWaitMs = (o.maxWaitSeconds ?? 900) * 1000;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.attempts = o.attempts ?? 6;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Whether the client sends a token. */
  get authenticated(): boolean {
    return Boolean(this.o.token);
  }

  /** One repository; undefined when GitHub has none by that name (or it is private and the token cannot see it). */
  async repo(owner: string, name: string): Promise<GitHubRepo | undefined> {
    const r = await this.get(this.url(`repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`), `github.com/${owner}/${name}`);
    if (r.status === 404) return undefined;
    return toRepo(r.body as Json);
  }

  /**
   * Every repository of an organisation, or of a user when there is no organisation by that name;
   * undefined when GitHub has neither.
   */
  async ownerRepos(owner: string): Promise<{ kind: 'organisation' | 'user'; repos: GitHubRepo[] } | undefined> {
    const org = await this.list(this.url(`orgs/${encodeURIComponent(owner)}/repos`, { type: 'all', per_page: '100' }), `github.com/${owner}`);
    if (org) return { kind: 'organisation', repos: org };
    const user = await this.list(this.url(`users/${encodeURIComponent(owner)}/repos`, { type: 'owner', per_page: '100' }), `github.com/${owner}`);
    return user ? { kind: 'user', repos: user } : undefined;
  }

  private url(path: string, query: Record<string, string> = {}): URL {
    const u = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  /** All pages from `first`; undefined on a 404 of the first page. */
  private async list(first: URL, what: string): Promise<GitHubRepo[] | undefined> {
    const out: GitHubRepo[] = [];
    let url: URL | undefined = first;
    for (let page = 1; url; page++) {
      const r = await this.get(url, `${what} (page ${page})`);
      if (r.status === 404 && page === 1) return undefined;
      if (!Array.isArray(r.body)) throw new GitHubError(r.status, `GitHub ${what}: expected a list of repositories`);
      out.push(...(r.body as Json[]).map(toRepo));
      const next = nextLink(r.headers.get('link'));
      if (!next) break;
      const n = new URL(next, this.base);
      // The token goes to GitHub's API alone, whatever a Link header says.
      if (n.origin !== this.base.origin) throw new GitHubError(r.status, `GitHub ${what}: the next page is on another host (${n.origin}); refusing to follow it`);
      url = n;
    }
    return out;
  }

  private async wait(ms: number, reason: 'rate-limit' | 'secondary-rate-limit' | 'retry', what: string, status?: number): Promise<void> {
    if (ms > this.maxWaitMs) {
      throw new GitHubError(status ?? 0, `GitHub ${what}: the ${reason === 'retry' ? 'retry' : reason.replace(/-/g, ' ')} wait of ${Math.ceil(ms / 1000)} s is longer than mirrors may wait (${Math.round(this.maxWaitMs / 1000)} s)${this.authenticated ? '' : '; a GitHub token (stack setting raibid-ci:githubToken) raises the limit from 60 to 5000 requests an hour'}`);
    }
    this.o.onWait?.({ reason, seconds: Math.ceil(ms / 1000), status });
    await this.sleep(ms);
  }

  /** A GET with the rate-limit rules; 2xx and 404 are answers, anything else after the retries throws. */
  private async get(url: URL, what: string): Promise<{ status: number; headers: Headers; body: unknown }> {
    let secondary = 0;
    for (let attempt = 1; ; attempt++) {
      if (this.remaining === 0 && this.resetAt !== undefined && this.resetAt > Date.now()) {
        await this.wait(this.resetAt - Date.now() + 1000, 'rate-limit', what);
        this.remaining = undefined;
      }
      let res: Response;
      try {
        this.requests++;
        res = await fetch(url, {
          headers: {
            accept: 'application/vnd.github+json',
            'x-github-api-version': GITHUB_API_VERSION,
            'user-agent': this.o.userAgent,
            ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
          },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        const cause = (e as Error).name === 'TimeoutError' ? 'timed out' : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message);
        if (attempt >= this.attempts) throw new GitHubError(0, `GitHub ${what}: unreachable (${cause})`);
        await this.wait(backoff(attempt), 'retry', what);
        continue;
      }
      const remaining = res.headers.get('x-ratelimit-remaining');
      const reset = res.headers.get('x-ratelimit-reset');
      if (remaining !== null && /^\d+$/.test(remaining)) this.remaining = Number(remaining);
      if (reset !== null && /^\d+$/.test(reset)) this.resetAt = Number(reset) * 1000;
      if (res.ok || res.status === 404) {
        const body = res.status === 404 ? undefined : await res.json().catch(() => {
          throw new GitHubError(res.status, `GitHub ${what}: the answer is not JSON`);
        });
        return { status: res.status, headers: res.headers, body };
      }
      const message = await res
        .json()
        .then((b) => String((b as { message?: unknown }).message ?? ''))
        .catch(() => '');
      const limited = res.status === 403 || res.status === 429;
      const retryAfter = res.headers.get('retry-after');
      if (limited && attempt < this.attempts) {
        if (retryAfter !== null && /^\d+$/.test(retryAfter)) {
          await this.wait(Number(retryAfter) * 1000, 'secondary-rate-limit', what, res.status);
          continue;
        }
        if (this.remaining === 0 && this.resetAt !== undefined) continue; // waited out at the top of the loop
        if (/secondary rate limit|abuse/i.test(message)) {
          await this.wait(60_000 * 2 ** secondary++, 'secondary-rate-limit', what, res.status);
          continue;
        }
      }
      if (res.status >= 500 && attempt < this.attempts) {
        await this.wait(backoff(attempt), 'retry', what, res.status);
        continue;
      }
      throw new GitHubError(res.status, `GitHub ${what}: HTTP ${res.status}${message ? `: ${message}` : ''}`);
    }
  }
}

/** 1 s, 2 s, 4 s … (at most 30 s) with up to 25% jitter. */
function backoff(attempt: number): number {
  const ms = Math.min(1000 * 2 ** (attempt - 1), 30_000);
  return ms + Math.random() * ms * 0.25;
}
