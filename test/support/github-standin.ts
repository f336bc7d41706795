/**
 * GitHub REST API STAND-IN for tests. This is not GitHub.
 *
 * The mirror tests cannot reach GitHub, so the reconciler talks to this small server instead. It serves the
 * three operations of test/fixtures/github-api/rest-subset.json (taken from GitHub's published OpenAPI
 * description) and refuses anything else the way GitHub does: an unknown path or method is GitHub's 404,
 * a request without User-Agent is GitHub's 403, an unsupported X-GitHub-Api-Version a 400, bad credentials
 * a 401. It is stricter than GitHub in two places, and says so with a "github-standin:" message (422): an
 * undeclared query parameter (GitHub ignores it) and a value outside a parameter's enum or type.
 *
 * Modelled: pagination with Link headers (per_page capped at 100; organisation pages linked as
 * /organizations/{id}/repos and user pages as /user/{id}/repos, which it serves too, as GitHub does), the
 * x-ratelimit-* headers on every answer with a primary limit that answers 403 at 0 until its reset, and
 * secondary limits on demand (403 with retry-after). Private repositories are visible only with a token.
 *
 * A second listener is the "web" host: git smart HTTP (clone and fetch only) for the repositories, through
 * `git http-backend`, so Gitea's stand-in can really clone the `clone_url` it is given. Private repositories
 * need Basic credentials whose password is a known token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

interface Schema { type?: string; enum?: string[]; default?: unknown; required?: string[]; properties?: Record<string, Schema>; items?: Schema; $ref?: string }
interface Parameter { name: string; in: 'path' | 'query'; required?: boolean; schema: Schema; $ref?: string }
interface Operation { operationId: string; method: string; path: string; parameters: Parameter[]; responses: Record<string, unknown> }
export interface GitHubSubset {
  source: Record<string, string>;
  apiVersions: string[];
  operations: Operation[];
  components: { parameters: Record<string, Parameter>; headers: Record<string, unknown>; schemas: Record<string, Schema> };
}

/** The fixture, parsed once. */
export const githubSubset: GitHubSubset = JSON.parse(readFileSync(new URL('../fixtures/github-api/rest-subset.json', import.meta.url), 'utf8')) as GitHubSubset;

const DOCS = 'https://docs.github.com/rest';
const FIXED_EPOCH = 1_735_689_600; // 2025-01-01T00:00:00Z, for commits and timestamps

/** An operation's parameters with the component references resolved. */
function parametersOf(op: Operation): Parameter[] {
  return op.parameters.map((p) => (p.$ref ? githubSubset.components.parameters[p.$ref.split('/').pop()!]! : p));
}

export interface GitHubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  operationId: string | null;
  /** Whether a token was sent (never the token). */
  auth: 'token' | 'none';
  userAgent: string | undefined;
  kind: 'api' | 'git';
}

export interface GitHubStandInOptions {
  /** Valid tokens → login of their owner. */
  tokens?: Readonly<Record<string, string>>;
  /** Requests an hour: with a token (default 5000) and without (default 60). */
  limits?: { authenticated?: number; anonymous?: number };
  /**
   * Test knob: the largest page served. GitHub's is 100 (larger per_page values are capped); tests lower it
   * to page through a handful of repositories.
   */
  maxPerPage?: number;
}

export interface AddGitHubRepoOptions {
  private?: boolean;
  fork?: boolean;
  archived?: boolean;
  disabled?: boolean;
  description?: string;
  files?: Record<string, string>;
}

export interface GitHubStandIn {
  /** The API host, like https://api.github.com (no trailing slash). */
  apiUrl: string;
  /** The web host, like https://github.com: git over HTTP. */
  webUrl: string;
  requests: GitHubRequest[];
  addOwner(login: string, type: 'Organization' | 'User'): void;
  addRepo(owner: string, name: string, opts?: AddGitHubRepoOptions): Promise<{ sha: string; cloneUrl: string }>;
  /** A new commit on the default branch (a push to GitHub). */
  push(owner: string, name: string, files: Record<string, string>, message: string): Promise<string>;
  /** Makes a repository's git data unreadable (its clone fails), as a repository GitHub cannot serve. */
  breakGit(owner: string, name: string): Promise<void>;
  /** The commit a branch of a repository points at. */
  head(owner: string, name: string, branch?: string): Promise<string>;
  /** Sets the primary rate limit of every client: what is left and when it resets. */
  setRateLimit(o: { remaining: number; resetInSeconds: number }): void;
  /** The next `times` API requests get GitHub's secondary-limit answer (403 with retry-after). */
  secondaryLimit(times: number, retryAfterSeconds: number): void;
  close(): Promise<void>;
}

interface Owner { id: number; login: string; type: 'Organization' | 'User' }
interface Repo { id: number; owner: Owner; name: string; private: boolean; fork: boolean; archived: boolean; disabled: boolean; description: string | null; dir: string; work: string; commits: number }

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export async function startGitHubStandIn(opts: GitHubStandInOptions = {}): Promise<GitHubStandIn> {
  const root = await mkdtemp(join(tmpdir(), 'github-standin-'));
  const home = join(root, 'home');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, '.gitconfig'), '');
  const gitEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: join(home, '.gitconfig'), GIT_TERMINAL_PROMPT: '0', LANG: 'C', LC_ALL: 'C' };
  const children = new Set<ChildProcess>();
  const owners = new Map<string, Owner>();
  const repos = new Map<string, Repo>();
  const requests: GitHubRequest[] = [];
  const tokens = new Map(Object.entries(opts.tokens ?? {}));
  let nextId = 1000;
  let apiUrl = '';
  let webUrl = '';
  let secondary = { times: 0, retryAfter: 60 };
  const limits = { token: opts.limits?.authenticated ?? 5000, none: opts.limits?.anonymous ?? 60 };
  const rate: Record<'token' | 'none', { remaining: number; reset: number }> = {
    token: { remaining: limits.token, reset: Math.floor(Date.now() / 1000) + 3600 },
    none: { remaining: limits.none, reset: Math.floor(Date.now() / 1000) + 3600 },
  };

  function git(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: o.cwd, env: { ...gitEnv, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        children.delete(child);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
  }
  async function gitOk(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const r = await git(args, o);
    if (r.code !== 0) throw new Error(`github-standin: git ${args[0]} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }
  async function commit(repo: Repo, files: Record<string, string>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(repo.work, path)), { recursive: true });
      await writeFile(join(repo.work, path), content);
    }
    const date = `${FIXED_EPOCH + repo.commits++} +0000`;
    const who = { GIT_AUTHOR_NAME: 'GitHub Stand-in', GIT_AUTHOR_EMAIL: 'standin@example.invalid', GIT_AUTHOR_DATE: date, GIT_COMMITTER_NAME: 'GitHub Stand-in', GIT_COMMITTER_EMAIL: 'standin@example.invalid', GIT_COMMITTER_DATE: date };
    await gitOk(['add', '-A'], { cwd: repo.work });
    await gitOk(['commit', '--quiet', '--allow-empty', '-m', message], { cwd: repo.work, env: who });
    await gitOk(['push', '--quiet', repo.dir, 'HEAD:refs/heads/main'], { cwd: repo.work });
    return (await gitOk(['rev-parse', 'HEAD'], { cwd: repo.work })).trim();
  }

  const key = (owner: string, name: string) => `${owner.toLowerCase()}/${name.toLowerCase()}`;
  const ownerJson = (o: Owner) => ({
    login: o.login, id: o.id, node_id: `NODE_${o.id}`, avatar_url: `${webUrl}/avatars/${o.id}`, gravatar_id: '', url: `${apiUrl}/users/${o.login}`, html_url: `${webUrl}/${o.login}`,
    followers_url: `${apiUrl}/users/${o.login}/followers`, following_url: `${apiUrl}/users/${o.login}/following{/other_user}`, gists_url: `${apiUrl}/users/${o.login}/gists{/gist_id}`,
    starred_url: `${apiUrl}/users/${o.login}/starred{/owner}{/repo}`, subscriptions_url: `${apiUrl}/users/${o.login}/subscriptions`, organizations_url: `${apiUrl}/users/${o.login}/orgs`,
    repos_url: `${apiUrl}/users/${o.login}/repos`, events_url: `${apiUrl}/users/${o.login}/events{/privacy}`, received_events_url: `${apiUrl}/users/${o.login}/received_events`, type: o.type, user_view_type: 'public', site_admin: false,
  });
  /** A minimal-repository (its required fields and the properties the fixture lists), as GitHub serves it. */
  const repoJson = (r: Repo) => {
    const full = `${r.owner.login}/${r.name}`;
    const api = `${apiUrl}/repos/${full}`;
    const at = new Date((FIXED_EPOCH + r.id) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      id: r.id, node_id: `R_${r.id}`, name: r.name, full_name: full, private: r.private, owner: ownerJson(r.owner), html_url: `${webUrl}/${full}`, description: r.description, fork: r.fork, url: api,
      archive_url: `${api}/{archive_format}{/ref}`, assignees_url: `${api}/assignees{/user}`, blobs_url: `${api}/git/blobs{/sha}`, branches_url: `${api}/branches{/branch}`, collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`, commits_url: `${api}/commits{/sha}`, compare_url: `${api}/compare/{base}...{head}`, contents_url: `${api}/contents/{+path}`, contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`, downloads_url: `${api}/downloads`, events_url: `${api}/events`, forks_url: `${api}/forks`, git_commits_url: `${api}/git/commits{/sha}`, git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`, git_url: `git:${webUrl.replace(/^https?:/, '')}/${full}.git`, issue_comment_url: `${api}/issues/comments{/number}`, issue_events_url: `${api}/issues/events{/number}`, issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`, labels_url: `${api}/labels{/name}`, languages_url: `${api}/languages`, merges_url: `${api}/merges`, milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`, pulls_url: `${api}/pulls{/number}`, releases_url: `${api}/releases{/id}`, ssh_url: `git@stand-in:${full}.git`, stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`, subscribers_url: `${api}/subscribers`, subscription_url: `${api}/subscription`, tags_url: `${api}/tags`, teams_url: `${api}/teams`, trees_url: `${api}/git/trees{/sha}`,
      clone_url: `${webUrl}/${full}.git`, hooks_url: `${api}/hooks`, homepage: null, language: null, forks_count: 0, stargazers_count: 0, watchers_count: 0, size: 1, default_branch: 'main', open_issues_count: 0,
      is_template: false, topics: [], has_issues: true, has_projects: true, has_wiki: true, has_pages: false, has_downloads: true, archived: r.archived, disabled: r.disabled,
      visibility: r.private ? 'private' : 'public', pushed_at: at, created_at: at, updated_at: at, permissions: { admin: false, maintain: false, push: false, triage: false, pull: true },
    };
  };

  // --- request plumbing

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json', 'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(), ...headers });
    res.end(JSON.stringify(body));
  }
  const notFound = () => new HttpError(404, 'Not Found');

  function match(template: string, path: string): Record<string, string> | null {
    const t = template.split('/');
    const p = path.split('/');
    if (t.length !== p.length) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < t.length; i++) {
      const m = /^\{(\w+)\}$/.exec(t[i]!);
      if (m) {
        if (!p[i]) return null;
        params[m[1]!] = decodeURIComponent(p[i]!);
      } else if (t[i] !== p[i]) return null;
    }
    return params;
  }

  /** GitHub links organisation and user pages by id; these resolve to the documented operations. */
  function route(method: string, path: string): { op: Operation; params: Record<string, string> } | null {
    const alias = /^\/(organizations|user)\/(\d+)\/repos$/.exec(path);
    if (alias) {
      const owner = [...owners.values()].find((o) => String(o.id) === alias[2] && o.type === (alias[1] === 'organizations' ? 'Organization' : 'User'));
      if (!owner) return null;
      const op = githubSubset.operations.find((o) => o.operationId === (owner.type === 'Organization' ? 'repos/list-for-org' : 'repos/list-for-user'))!;
      return method === op.method ? { op, params: owner.type === 'Organization' ? { org: owner.login } : { username: owner.login } } : null;
    }
    for (const op of githubSubset.operations) {
      const params = match(op.path, path);
      if (params && op.method === method) return { op, params };
    }
    return null;
  }

  function checkQuery(op: Operation, query: URLSearchParams): Record<string, string> {
    const params = parametersOf(op).filter((p) => p.in === 'query');
    const out: Record<string, string> = {};
    for (const [k, v] of query) {
      const p = params.find((x) => x.name === k);
      if (!p) throw new HttpError(422, `github-standin: query parameter "${k}" is not declared for ${op.operationId} (GitHub would ignore it)`);
      if (p.schema.type === 'integer' && !/^\d+$/.test(v)) throw new HttpError(422, `github-standin: query parameter "${k}" must be an integer`);
      if (p.schema.enum && !p.schema.enum.includes(v)) throw new HttpError(422, `github-standin: query parameter "${k}" must be one of ${p.schema.enum.join(', ')}`);
      out[k] = v;
    }
    for (const p of params) if (out[p.name] === undefined && p.schema.default !== undefined) out[p.name] = String(p.schema.default);
    return out;
  }

  function authenticate(req: IncomingMessage): 'token' | 'none' {
    const h = req.headers.authorization;
    if (!h) return 'none';
    const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(h);
    if (!m || !tokens.has(m[1]!)) throw new HttpError(401, 'Bad credentials');
    return 'token';
  }

  function rateHeaders(kind: 'token' | 'none'): Record<string, string> {
    const r = rate[kind];
    return { 'x-ratelimit-limit': String(limits[kind]), 'x-ratelimit-remaining': String(r.remaining), 'x-ratelimit-reset': String(r.reset), 'x-ratelimit-used': String(limits[kind] - r.remaining), 'x-ratelimit-resource': 'core' };
  }

  function listRepos(op: Operation, params: Record<string, string>, q: Record<string, string>, auth: 'token' | 'none', given: URLSearchParams): { body: unknown; headers: Record<string, string> } {
    const login = params.org ?? params.username!;
    const owner = owners.get(login.toLowerCase());
    const wanted = op.operationId === 'repos/list-for-org' ? 'Organization' : 'User';
    if (!owner || owner.type !== wanted) throw notFound();
    let list = [...repos.values()].filter((r) => r.owner === owner && (!r.private || auth === 'token'));
    // list-for-user shows public repositories only (private ones need GET /user/repos as that user)
    if (wanted === 'User') list = list.filter((r) => !r.private);
    if (q.type === 'public') list = list.filter((r) => !r.private);
    if (q.type === 'private') list = list.filter((r) => r.private);
    if (q.type === 'forks') list = list.filter((r) => r.fork);
    if (q.type === 'sources') list = list.filter((r) => !r.fork);
    const byName = q.sort === 'full_name';
    const direction = q.direction ?? (byName ? 'asc' : 'desc');
    list.sort((a, b) => (byName ? a.name.localeCompare(b.name) : a.id - b.id) * (direction === 'asc' ? 1 : -1));
    const perPage = Math.min(Math.max(Number(q.per_page) || 30, 1), 100, opts.maxPerPage ?? 100);
    const page = Math.max(Number(q.page) || 1, 1);
    const last = Math.max(1, Math.ceil(list.length / perPage));
    const base = wanted === 'Organization' ? `/organizations/${owner.id}/repos` : `/user/${owner.id}/repos`;
    const link = (n: number, rel: string) => {
      // The parameters as the client sent them (not the defaults), with the page.
      const u = new URLSearchParams([...given].filter(([k]) => k !== 'page'));
      u.set('page', String(n));
      return `<${apiUrl}${base}?${u.toString()}>; rel="${rel}"`;
    };
    const links = [...(page > 1 ? [link(page - 1, 'prev')] : []), ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []), ...(page > 1 ? [link(1, 'first')] : [])];
    return { body: list.slice((page - 1) * perPage, page * perPage).map(repoJson), headers: links.length ? { link: links.join(', ') } : {} };
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, rec: GitHubRequest, url: URL): Promise<void> {
    let kind: 'token' | 'none' = 'none';
    try {
      if (!req.headers['user-agent']) {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        return void res.end('Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n');
      }
      const version = req.headers['x-github-api-version'];
      if (version !== undefined && !githubSubset.apiVersions.includes(String(version))) throw new HttpError(400, `github-standin: API version ${String(version)} is not supported (known: ${githubSubset.apiVersions.join(', ')})`);
      kind = authenticate(req);
      rec.auth = kind;
      const hit = route(req.method ?? 'GET', url.pathname);
      if (!hit) throw notFound();
      rec.operationId = hit.op.operationId;
      const q = checkQuery(hit.op, url.searchParams);
      const r = rate[kind];
      const now = Math.floor(Date.now() / 1000);
      if (now >= r.reset) Object.assign(r, { remaining: limits[kind], reset: now + 3600 });
      if (secondary.times > 0) {
        secondary.times--;
        throw new HttpError(403, 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID STANDIN.', { 'retry-after': String(secondary.retryAfter) });
      }
      if (r.remaining <= 0) throw new HttpError(403, `API rate limit exceeded for ${kind === 'token' ? 'user ID 1' : req.socket.remoteAddress}. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`);
      r.remaining--;
      if (hit.op.operationId === 'repos/get') {
        const repo = repos.get(key(hit.params.owner!, hit.params.repo!));
        if (!repo || (repo.private && kind !== 'token')) throw notFound();
        return send(res, 200, repoJson(repo), rateHeaders(kind));
      }
      const listed = listRepos(hit.op, hit.params, q, kind, url.searchParams);
      return send(res, 200, listed.body, { ...rateHeaders(kind), ...listed.headers });
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      const doc = e.status === 403 && /rate limit/.test(e.message) ? 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' : DOCS;
      send(res, e.status, { message: e.message, documentation_url: doc, status: String(e.status) }, { ...(e.status === 401 ? {} : rateHeaders(kind)), ...e.headers });
    }
  }

  // --- git over HTTP (the web host)

  const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+)$/;
  async function handleGit(req: IncomingMessage, res: ServerResponse, rec: GitHubRequest, url: URL): Promise<void> {
    const m = GIT_PATH.exec(url.pathname);
    const repo = m ? repos.get(key(m[1]!, m[2]!)) : undefined;
    const service = url.searchParams.get('service') ?? (m?.[3]?.startsWith('git-') ? m[3] : '');
    if (!m || service === 'git-receive-pack') return void res.writeHead(m ? 403 : 404).end();
    if (!repo || repo.disabled) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Repository not found.\n');
    if (repo.private) {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const password = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':').slice(1).join(':') : '';
      if (!tokens.has(decodeURIComponent(password))) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' }).end();
      rec.auth = 'token';
    }
    await new Promise<void>((resolve) => {
      const env: NodeJS.ProcessEnv = {
        ...gitEnv, GIT_PROJECT_ROOT: join(root, 'repos'), GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: `/${repo.owner.login.toLowerCase()}/${repo.name.toLowerCase()}.git/${m[3]}`,
        QUERY_STRING: url.search.slice(1), REQUEST_METHOD: req.method ?? 'GET', CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
        ...(req.headers['git-protocol'] ? { HTTP_GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      };
      const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      let head = Buffer.alloc(0);
      let done = false;
      child.stdout.on('data', (chunk: Buffer) => {
        if (done) return void res.write(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') + 4 : head.indexOf('\n\n') >= 0 ? head.indexOf('\n\n') + 2 : -1;
        if (end < 0) return;
        done = true;
        let status = 200;
        const headers: Record<string, string> = {};
        for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/).filter(Boolean)) {
          const i = line.indexOf(':');
          if (line.slice(0, i).toLowerCase() === 'status') status = Number.parseInt(line.slice(i + 1), 10) || 500;
          else headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
        }
        res.writeHead(status, headers);
        res.write(head.subarray(end));
      });
      child.stderr.on('data', () => undefined);
      child.on('close', () => {
        children.delete(child);
        if (!done) res.writeHead(500).end();
        else res.end();
        resolve();
      });
      child.stdin.on('error', () => undefined);
      req.pipe(child.stdin);
    });
  }

  const listen = async (kind: 'api' | 'git'): Promise<{ server: Server; url: string }> => {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const rec: GitHubRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0, operationId: null, auth: 'none', userAgent: req.headers['user-agent'], kind };
      requests.push(rec);
      res.on('finish', () => (rec.status = res.statusCode));
      (kind === 'api' ? handleApi(req, res, rec, url) : handleGit(req, res, rec, url)).catch((e: unknown) => {
        if (!res.headersSent) send(res, 500, { message: `github-standin: ${(e as Error).message}` });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  };
  const api = await listen('api');
  const web = await listen('git');
  apiUrl = api.url;
  webUrl = web.url;

  return {
    apiUrl,
    webUrl,
    requests,
    addOwner(login, type) {
      if (owners.has(login.toLowerCase())) throw new Error(`github-standin: ${login} exists already`);
      owners.set(login.toLowerCase(), { id: nextId++, login, type });
    },
    async addRepo(ownerLogin, name, o = {}) {
      const owner = owners.get(ownerLogin.toLowerCase());
      if (!owner) throw new Error(`github-standin: no owner ${ownerLogin} (addOwner first)`);
      if (repos.has(key(ownerLogin, name))) throw new Error(`github-standin: ${ownerLogin}/${name} exists already`);
      const dir = join(root, 'repos', owner.login.toLowerCase(), `${name.toLowerCase()}.git`);
      const work = join(root, 'work', owner.login.toLowerCase(), name.toLowerCase());
      await mkdir(work, { recursive: true });
      await gitOk(['init', '--quiet', '--bare', '--initial-branch=main', dir]);
      await gitOk(['init', '--quiet', '--initial-branch=main', work]);
      const repo: Repo = { id: nextId++, owner, name, private: Boolean(o.private), fork: Boolean(o.fork), archived: Boolean(o.archived), disabled: Boolean(o.disabled), description: o.description ?? null, dir, work, commits: 0 };
      const sha = await commit(repo, o.files ?? { 'README.md': `# ${name}\n` }, 'Initial commit');
      repos.set(key(ownerLogin, name), repo);
      return { sha, cloneUrl: `${webUrl}/${owner.login}/${name}.git` };
    },
    async push(ownerLogin, name, files, message) {
      const repo = repos.get(key(ownerLogin, name));
      if (!repo) throw new Error(`github-standin: no repository ${ownerLogin}/${name}`);
      return commit(repo, files, message);
    },
    async breakGit(ownerLogin, name) {
      const repo = repos.get(key(ownerLogin, name));
      if (!repo) throw new Error(`github-standin: no repository ${ownerLogin}/${name}`);
      await rm(join(repo.dir, 'objects'), { recursive: true, force: true });
    },
    async head(ownerLogin, name, branch = 'main') {
      const repo = repos.get(key(ownerLogin, name));
      if (!repo) throw new Error(`github-standin: no repository ${ownerLogin}/${name}`);
      return (await gitOk(['rev-parse', `refs/heads/${branch}`], { cwd: repo.dir })).trim();
    },
    setRateLimit(o) {
      const reset = Math.floor(Date.now() / 1000) + o.resetInSeconds;
      for (const k of ['token', 'none'] as const) Object.assign(rate[k], { remaining: o.remaining, reset });
    },
    secondaryLimit(times, retryAfterSeconds) {
      secondary = { times, retryAfter: retryAfterSeconds };
    },
    async close() {
      for (const c of children) c.kill('SIGKILL');
      for (const s of [api.server, web.server]) {
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
