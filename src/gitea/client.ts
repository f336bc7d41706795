/**
 * The runtime's Gitea client: gitea-js (generated from Gitea's swagger, so request bodies are typed)
 * with a timeout on every request and retries with backoff and jitter for transient failures
 * (network errors, 429, 5xx). Used by the API, the agents and the mirror; no cdk8s here.
 */
import { giteaApi, type CommitStatusState, type Repository } from 'gitea-js';
import { goDurationSeconds } from '../mirror/contract.js';

export interface GiteaSettings {
  /** Base URL, without /api/v1. */
  readonly url: string;
  readonly token: string;
  /** Per-request timeout, ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Attempts for a transient failure. @default 4 */
  readonly attempts?: number;
  /**
   * Timeout of a migration (POST /repos/migrate), ms: Gitea answers only once it has cloned the whole
   * repository. @default 1800000 (30 minutes)
   */
  readonly migrationTimeoutMs?: number;
}

/** A repository of an organisation, with what the mirrors need to know about it. */
export interface GiteaRepo {
  readonly name: string;
  /** `owner/name` */
  readonly fullName: string;
  readonly mirror: boolean;
  /** Gitea's pull interval of a mirror, seconds (undefined when not a mirror or unreadable). */
  readonly mirrorIntervalSeconds?: number;
  /** When the mirror last synced successfully (Gitea's `mirror_updated`); undefined when never. */
  readonly mirrorUpdated?: Date;
  /** Where a mirror pulls from, without credentials (Gitea's `original_url`). */
  readonly originalUrl: string;
  readonly private: boolean;
  readonly archived: boolean;
}

/** What POST /repos/migrate gets for a pull mirror. */
export interface MirrorMigration {
  readonly cloneAddr: string;
  readonly owner: string;
  readonly name: string;
  /** Go duration, e.g. "1h0m0s". */
  readonly interval: string;
  readonly lfs: boolean;
  readonly wiki: boolean;
  readonly private: boolean;
  readonly description?: string;
  /** Token Gitea clones with (and reads the source's API with); never logged. */
  readonly authToken?: string;
  readonly service: 'git' | 'github';
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
  /** The same API with the migration timeout (a migration clones before Gitea answers). */
  private readonly slowApi;
  private readonly attempts: number;

  constructor(readonly settings: GiteaSettings) {
    const timeoutMs = settings.timeoutMs ?? 10_000;
    this.attempts = settings.attempts ?? 4;
    const api = (ms: number) =>
      giteaApi(settings.url.replace(/\/$/, ''), {
        token: settings.token,
        customFetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(ms) }),
      });
    this.api = api(timeoutMs);
    this.slowApi = api(settings.migrationTimeoutMs ?? 1_800_000);
  }

  /** Runs one call with retries; a 404 resolves to undefined when `missingOk`. */
  private async call<T>(what: string, fn: () => Promise<{ data: T }>, missingOk = false, attempts = this.attempts): Promise<T | undefined> {
    let last: GiteaError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return (await fn()).data;
      } catch (e) {
        const status = typeof (e as { status?: unknown }).status === 'number' ? (e as { status: number }).status : 0;
        if (status === 404 && missingOk) return undefined;
        const body = (e as { error?: { message?: string } }).error?.message;
        last = new GiteaError(status, `Gitea ${what}: ${status ? `HTTP ${status}` : (e as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable'}${body ? `: ${body}` : ''}`);
        const transient = status === 0 || status === 429 || status >= 500;
        if (!transient || attempt === attempts) break;
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
  async repo(repo: string): Promise<{ cloneUrl: string; defaultBranch: string; owner: string; mirror: boolean } | undefined> {
    const [owner, name] = splitRepo(repo);
    const r = await this.call(`repository ${repo}`, () => this.api.repos.repoGet(owner, name), true);
    if (!r) return undefined;
    return { cloneUrl: r.clone_url ?? '', defaultBranch: r.default_branch ?? 'main', owner: r.owner?.login ?? owner, mirror: r.mirror === true };
  }

  /** The commit a branch, tag or sha names, with its title; undefined when unknown. */
  async commit(repo: string, ref: string): Promise<{ sha: string; title: string } | undefined> {
    const [owner, name] = splitRepo(repo);
    const list = await this.call(`commit ${ref} of ${repo}`, () => this.api.repos.repoGetAllCommits(owner, name, { sha: ref, limit: 1, stat: false, verification: false, files: false }), true);
    const c = list?.[0];
    if (!c?.sha) return undefined;
    return { sha: c.sha, title: (c.commit?.message ?? '').split('\n')[0] };
  }

  // ---- mirrors (src/mirror/)

  /** An organisation, or undefined when there is none by that name (or the caller cannot see it). */
  async org(name: string): Promise<{ name: string; visibility?: string } | undefined> {
    const o = await this.call(`organisation ${name}`, () => this.api.orgs.orgGet(name), true);
    return o ? { name: o.name ?? o.username ?? name, visibility: o.visibility } : undefined;
  }

  /** Creates an organisation owned by the caller (POST /orgs). */
  async createOrg(name: string, o: { visibility: 'public' | 'limited' | 'private'; description: string }): Promise<void> {
    await this.call(`new organisation ${name}`, () => this.api.orgs.orgCreate({ username: name, visibility: o.visibility, description: o.description }), false, 1);
  }

  /** Every repository of an organisation the caller can see, page by page; [] when there is no such organisation. */
  async orgRepos(org: string): Promise<GiteaRepo[]> {
    const limit = 50;
    const out: GiteaRepo[] = [];
    for (let page = 1; ; page++) {
      const list = await this.call(`repositories of ${org} (page ${page})`, () => this.api.orgs.orgListRepos(org, { page, limit }), true);
      if (!list) return out;
      for (const r of list) out.push(toGiteaRepo(r, org));
      if (list.length < limit) return out;
    }
  }

  /**
   * Creates a pull mirror (POST /repos/migrate). Not retried: Gitea may still be cloning after a timeout,
   * and the next run finds the repository.
   */
  async migrateMirror(m: MirrorMigration): Promise<void> {
    await this.call(
      `migration of ${m.owner}/${m.name}`,
      () =>
        this.slowApi.repos.repoMigrate({
          clone_addr: m.cloneAddr,
          repo_owner: m.owner,
          repo_name: m.name,
          service: m.service,
          mirror: true,
          mirror_interval: m.interval,
          lfs: m.lfs,
          wiki: m.wiki,
          private: m.private,
          ...(m.description ? { description: m.description.slice(0, 2048) } : {}),
          ...(m.authToken ? { auth_token: m.authToken } : {}),
        }),
      false,
      1,
    );
  }

  /** Sets a mirror's pull interval (PATCH /repos/{owner}/{repo}, a Go duration). */
  async setMirrorInterval(repo: string, interval: string): Promise<void> {
    const [owner, name] = splitRepo(repo);
    await this.call(`mirror interval of ${repo}`, () => this.api.repos.repoEdit(owner, name, { mirror_interval: interval }));
  }

  /** Asks Gitea to sync a mirror now (POST /repos/{owner}/{repo}/mirror-sync); Gitea syncs in the background. */
  async mirrorSync(repo: string): Promise<void> {
    const [owner, name] = splitRepo(repo);
    await this.call(`mirror sync of ${repo}`, () => this.api.repos.repoMirrorSync(owner, name));
  }
}

/** Go's zero time.Time, which Gitea shows for "never". */
const ZERO_TIME = /^0001-01-01/;

function toGiteaRepo(r: Repository, owner: string): GiteaRepo {
  const updated = r.mirror_updated && !ZERO_TIME.test(r.mirror_updated) ? new Date(r.mirror_updated) : undefined;
  return {
    name: r.name ?? '',
    fullName: r.full_name ?? `${owner}/${r.name}`,
    mirror: r.mirror === true,
    mirrorIntervalSeconds: r.mirror && r.mirror_interval ? goDurationSeconds(r.mirror_interval) : undefined,
    mirrorUpdated: updated && !Number.isNaN(updated.getTime()) ? updated : undefined,
    originalUrl: r.original_url ?? '',
    private: r.private === true,
    archived: r.archived === true,
  };
}

/** `owner/name` → [owner, name]. */
export function splitRepo(repo: string): [string, string] {
  const i = repo.indexOf('/');
  return [repo.slice(0, i), repo.slice(i + 1)];
}
