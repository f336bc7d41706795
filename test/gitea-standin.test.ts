/**
 * Tests of the test-only Gitea stand-in itself (test/support/gitea-standin.ts) and of the webhook builders
 * (test/support/gitea-webhooks.ts): that they answer like Gitea 1.27 does, per the swagger subset in
 * test/fixtures/gitea-api/swagger-subset.json and Gitea's handler code (see the header of gitea-standin.ts).
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration, startGiteaStandIn, swaggerSubset, type GiteaStandIn } from './support/gitea-standin.js';
import { pullRequestPayload, pushPayload, signedDelivery, ZERO_SHA } from './support/gitea-webhooks.js';

const run = promisify(execFile);
const TOKEN = randomBytes(20).toString('hex'); // Gitea tokens are 40 hex characters
const OTHER_TOKEN = randomBytes(20).toString('hex');

/**
 * Check a JSON value against a swagger definition: every key must be a declared property and every value must
 * have the declared type (null stands for Go's nil pointers and is allowed everywhere).
 */
function schemaProblems(value: unknown, ref: string, path = ref): string[] {
  const def = swaggerSubset.definitions[ref];
  if (!def) return [`${path}: no definition ${ref} in the fixture`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected an object`];
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const prop = def.properties?.[key];
    if (!prop) {
      out.push(`${path}.${key}: not in ${ref}`);
      continue;
    }
    if (v === null) continue;
    const target = prop.$ref ? prop.$ref.split('/').pop()! : null;
    if (target) out.push(...schemaProblems(v, target, `${path}.${key}`));
    else if (prop.type === 'array') {
      if (!Array.isArray(v)) out.push(`${path}.${key}: expected an array`);
      else if (prop.items?.$ref) v.forEach((item, i) => out.push(...schemaProblems(item, prop.items!.$ref!.split('/').pop()!, `${path}.${key}[${i}]`)));
    } else if (prop.type === 'integer' ? !Number.isInteger(v) : prop.type === 'boolean' ? typeof v !== 'boolean' : prop.type === 'string' ? typeof v !== 'string' : false) {
      out.push(`${path}.${key}: expected ${prop.type}, got ${JSON.stringify(v)}`);
    }
  }
  return out;
}

describe('Gitea API stand-in (validates against Gitea 1.27 swagger subset)', () => {
  let gitea: GiteaStandIn;
  let firstSha: string;
  let secondSha: string;
  let featureSha: string;
  let gitHome: string;

  async function api(method: string, path: string, o: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
    const token = o.token === undefined ? TOKEN : o.token;
    const headers: Record<string, string> = { ...(token ? { authorization: `token ${token}` } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers };
    const res = await fetch(`${gitea.apiUrl}${path}`, { method, headers, body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body) });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (plain-text 404, empty 405)
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** git with no user or system configuration and no prompts; credentials only as given in `args`. */
  async function git(args: string[], cwd?: string) {
    return run('git', args, {
      cwd,
      env: { PATH: process.env.PATH, HOME: gitHome, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: join(gitHome, '.gitconfig'), GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' },
    });
  }

  beforeAll(async () => {
    gitHome = await mkdtemp(join(tmpdir(), 'gitea-standin-test-'));
    await writeFile(join(gitHome, '.gitconfig'), '');
    gitea = await startGiteaStandIn({ tokens: { [TOKEN]: 'ci-bot', [OTHER_TOKEN]: 'other-bot' }, allowLocalNetworks: true });
    ({ sha: firstSha } = await gitea.addRepo('acme', 'app', { files: { 'README.md': 'hello\n', 'ci/raibid.yaml': 'image: alpine\n' } }));
    secondSha = await gitea.commit('acme', 'app', { 'README.md': 'hello again\n' }, 'Update README');
    featureSha = await gitea.commit('acme', 'app', { 'feature.txt': 'new\n' }, 'Add feature', 'feature');
    await gitea.addRepo('acme', 'secret', { files: { 'x.txt': 'x\n' }, private: true });
  });

  afterAll(async () => {
    await gitea?.close();
    await rm(gitHome, { recursive: true, force: true });
  });

  describe('commit statuses', () => {
    it('accepts a valid status: 201 with a CommitStatus body, and records it', async () => {
      const body = { state: 'success', target_url: 'https://ci.example/runs/1', description: ' all good ', context: 'raibid/build' };
      const r = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body });
      expect(r.status).toBe(201);
      expect(schemaProblems(r.json, 'CommitStatus')).toEqual([]);
      expect(r.json).toMatchObject({ id: 1, status: 'success', description: 'all good', context: 'raibid/build', creator: { login: 'ci-bot' } });
      expect(r.json.url).toBe(`${gitea.apiUrl}/repos/acme/app/statuses/${secondSha}`);
      expect(gitea.statuses.at(-1)).toMatchObject({ owner: 'acme', repo: 'app', sha: secondSha, state: 'success', description: 'all good', body });
      const list = await api('GET', `/repos/acme/app/statuses/${secondSha}`);
      expect(list.status).toBe(200);
      expect(list.json.map((s: any) => s.context)).toContain('raibid/build');
    });

    it('stores a status given by branch name on the branch head, with the full SHA (as Gitea resolves it)', async () => {
      const r = await api('POST', '/repos/acme/app/statuses/feature', { body: { state: 'pending', context: 'raibid/lint' } });
      expect(r.status).toBe(201);
      expect(gitea.statuses.at(-1)!.sha).toBe(featureSha);
    });

    it('rejects an unknown field with 422 (stricter than Gitea, and says so)', async () => {
      const r = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body: { state: 'success', colour: 'green' } });
      expect(r.status).toBe(422);
      expect(r.json.message).toMatch(/^gitea-standin: unknown field "colour" in CreateStatusOption/);
      expect(r.json.url).toBe(`${gitea.url}/api/swagger`);
    });

    it('rejects a state outside the CommitStatusState enum', async () => {
      const r = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body: { state: 'passed' } });
      expect(r.status).toBe(422);
      expect(r.json.message).toContain('[pending, success, error, failure, warning, skipped]');
    });

    it('rejects a wrong type with Go’s unmarshal message, as Gitea does', async () => {
      const r = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body: { state: 1 } });
      expect(r.status).toBe(422);
      expect(r.json.message).toBe('[]: json: cannot unmarshal number into Go struct field CreateStatusOption.state of type commitstatus.CommitStatusState');
    });

    it('rejects a body without Content-Type, with a non-JSON Content-Type, and one that is not JSON', async () => {
      // a byte body, so that fetch adds no Content-Type of its own
      const noType = await fetch(`${gitea.apiUrl}/repos/acme/app/statuses/${secondSha}`, { method: 'POST', headers: { authorization: `token ${TOKEN}` }, body: new TextEncoder().encode('{"state":"success"}') });
      expect(noType.status).toBe(422);
      expect(((await noType.json()) as { message: string }).message).toBe('[]: Empty Content-Type');
      const text = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body: '{"state":"success"}', headers: { 'content-type': 'text/plain' } });
      expect(text.json.message).toBe('[]: Unsupported Content-Type');
      const broken = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body: '{"state":' });
      expect(broken.status).toBe(422);
    });

    it('answers 500 for an unknown commit, as Gitea’s handler does (message hidden from non-admins)', async () => {
      const r = await api('POST', `/repos/acme/app/statuses/${'f'.repeat(40)}`, { body: { state: 'success' } });
      expect(r.status).toBe(500);
      expect(r.json.message).toBe('');
    });
  });

  describe('validation of other bodies', () => {
    it('rejects a missing required field with Gitea’s binding message', async () => {
      const org = await api('POST', '/orgs', { body: { full_name: 'No name' } });
      expect(org.status).toBe(422);
      expect(org.json.message).toBe('[UserName]: Required');
      const migrate = await api('POST', '/repos/migrate', { body: { clone_addr: `${gitea.url}/acme/app.git` } });
      expect(migrate.status).toBe(422);
      expect(migrate.json.message).toBe('[RepoName]: Required');
    });

    it('applies Gitea’s other binding rules (AlphaDashDot, In)', async () => {
      const badName = await api('POST', '/repos/migrate', { body: { clone_addr: `${gitea.url}/acme/app.git`, repo_name: 'has space' } });
      expect(badName.json.message).toBe('[RepoName]: AlphaDashDot');
      const badVisibility = await api('POST', '/orgs', { body: { username: 'team-x', visibility: 'secret' } });
      expect(badVisibility.status).toBe(422);
      expect(badVisibility.json.message).toBe('[Visibility]: In');
    });
  });

  describe('routing and auth', () => {
    it('answers an unknown path with Gitea’s plain 404', async () => {
      const r = await api('GET', '/repos/acme/app/no-such-thing');
      expect(r.status).toBe(404);
      expect(r.text).toBe('404 page not found\n');
    });

    it('answers a wrong method with 405 and an Allow header', async () => {
      const r = await api('PUT', `/repos/acme/app/statuses/${secondSha}`, { body: {} });
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, POST');
    });

    it('answers a real Gitea route it does not serve with 501, never pretending Gitea lacks it', async () => {
      const r = await api('GET', '/repos/acme/app/branches');
      expect(r.status).toBe(501);
      expect(r.json.message).toMatch(/^gitea-standin: GET \/api\/v1\/repos\/\{owner\}\/\{repo\}\/branches exists in Gitea 1.27/);
    });

    it('needs a token to write (401 "token is required") and refuses a wrong token even for reads', async () => {
      const anonymous = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { token: null, body: { state: 'success' } });
      expect(anonymous.status).toBe(401);
      expect(anonymous.json.message).toBe('token is required');
      const wrong = await api('GET', '/repos/acme/app', { token: 'f'.repeat(40) });
      expect(wrong.status).toBe(401);
      expect(wrong.json.message).toBe('invalid username, password or token');
    });

    it('accepts the token as "token", "Bearer" and Basic (user:token or token:), and records how, never the token', async () => {
      const bearer = await api('GET', '/repos/acme/app', { token: null, headers: { authorization: `Bearer ${TOKEN}` } });
      const basic = await api('GET', '/repos/acme/app', { token: null, headers: { authorization: `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}` } });
      const basicUser = await api('GET', '/repos/acme/app', { token: null, headers: { authorization: `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}` } });
      expect([bearer.status, basic.status, basicUser.status]).toEqual([200, 200, 200]);
      expect(gitea.requests.slice(-3).map((r) => [r.auth, r.authOk, r.user])).toEqual([['bearer', true, 'ci-bot'], ['basic', true, 'ci-bot'], ['basic', true, 'ci-bot']]);
      await api('GET', `/repos/acme/app?access_token=${TOKEN}`, { token: null });
      const dump = JSON.stringify(gitea.requests);
      expect(dump).not.toContain(TOKEN);
      expect(gitea.requests.at(-1)!.query).toEqual({ access_token: '<redacted>' });
    });

    it('hides private repositories from anonymous callers (404) and shows them with a token', async () => {
      expect((await api('GET', '/repos/acme/secret', { token: null })).status).toBe(404);
      expect((await api('GET', '/repos/acme/secret')).status).toBe(200);
      expect((await api('GET', '/repos/acme/nope')).json).toEqual({ message: 'not found', url: `${gitea.url}/api/swagger` });
    });

    it('returns a Repository that only uses fields of the swagger', async () => {
      const r = await api('GET', '/repos/acme/app');
      expect(r.status).toBe(200);
      expect(schemaProblems(r.json, 'Repository')).toEqual([]);
      expect(r.json).toMatchObject({ name: 'app', full_name: 'acme/app', default_branch: 'main', private: false, clone_url: `${gitea.url}/acme/app.git`, owner: { login: 'acme' } });
    });
  });

  describe('contents and commits read the real git repository', () => {
    it('returns a file base64-encoded at a ref, and 404 when the file, ref or repository is missing', async () => {
      const head = await api('GET', '/repos/acme/app/contents/README.md');
      expect(head.status).toBe(200);
      expect(schemaProblems(head.json, 'ContentsResponse')).toEqual([]);
      expect(head.json).toMatchObject({ type: 'file', encoding: 'base64', name: 'README.md', path: 'README.md', size: 12, last_commit_sha: secondSha });
      expect(Buffer.from(head.json.content, 'base64').toString()).toBe('hello again\n');
      const old = await api('GET', `/repos/acme/app/contents/README.md?ref=${firstSha}`);
      expect(Buffer.from(old.json.content, 'base64').toString()).toBe('hello\n');
      const nested = await api('GET', '/repos/acme/app/contents/ci/raibid.yaml?ref=feature');
      expect(Buffer.from(nested.json.content, 'base64').toString()).toBe('image: alpine\n');
      expect((await api('GET', '/repos/acme/app/contents/feature.txt')).status).toBe(404);
      expect((await api('GET', '/repos/acme/app/contents/README.md?ref=no-such-branch')).status).toBe(404);
      expect((await api('GET', '/repos/acme/missing/contents/README.md')).status).toBe(404);
    });

    it('resolves a branch to its commit through the commits API', async () => {
      const r = await api('GET', '/repos/acme/app/commits?sha=feature&limit=1&stat=false&verification=false&files=false');
      expect(r.status).toBe(200);
      expect(r.json).toHaveLength(1);
      expect(r.json[0]).toMatchObject({ sha: featureSha, commit: { message: 'Add feature\n' }, files: null, stats: null });
      expect(schemaProblems(r.json[0], 'Commit')).toEqual([]);
      expect(r.headers.get('x-total-count')).toBe('3');
      const full = await api('GET', '/repos/acme/app/commits?sha=main');
      expect(full.json.map((c: any) => c.sha)).toEqual([secondSha, firstSha]);
      expect(full.json[0].files).toEqual([{ filename: 'README.md', status: 'modified' }]);
      expect(full.json[0].stats).toEqual({ total: 2, additions: 1, deletions: 1 });
    });

    it('answers 404 for an unknown ref (Gitea: APIErrorAuto on GetCommit) and checks query parameters', async () => {
      const unknown = await api('GET', '/repos/acme/app/commits?sha=does-not-exist');
      expect(unknown.status).toBe(404);
      expect(unknown.json.message).toBe('object does not exist [id: does-not-exist, rel_path: ]');
      const since = await api('GET', '/repos/acme/app/commits?since=yesterday');
      expect(since.json.message).toBe("invalid 'since' format, expected ISO 8601 (RFC3339)");
      const typo = await api('GET', '/repos/acme/app/commits?branch=main');
      expect(typo.status).toBe(422);
      expect(typo.json.message).toMatch(/^gitea-standin: query parameter "branch" is not declared/);
    });
  });

  describe('git over HTTP (real git http-backend)', () => {
    it('clones with the token sent via http.extraHeader, and refuses a clone of a private repository without auth', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gitea-standin-clone-'));
      try {
        await git(['-c', `http.extraHeader=Authorization: token ${TOKEN}`, 'clone', '--quiet', `${gitea.url}/acme/secret.git`, join(dir, 'secret')]);
        expect(await readFile(join(dir, 'secret', 'x.txt'), 'utf8')).toBe('x\n');
        const anonymous = await git(['clone', '--quiet', `${gitea.url}/acme/secret.git`, join(dir, 'anon')]).then(() => 'cloned', (e: { stderr: string }) => e.stderr);
        expect(anonymous).toMatch(/Authentication failed|could not read Username|401/);
        const gitRequests = gitea.requests.filter((r) => r.kind === 'git' && r.path.startsWith('/acme/secret.git'));
        expect(gitRequests.some((r) => r.status === 401 && r.auth === 'none')).toBe(true);
        expect(gitRequests.some((r) => r.status === 200 && r.auth === 'token')).toBe(true);
        // Gitea lets anyone clone a public repository of a public owner
        await git(['clone', '--quiet', '--branch', 'feature', `${gitea.url}/acme/app.git`, join(dir, 'app')]);
        expect(await readFile(join(dir, 'app', 'feature.txt'), 'utf8')).toBe('new\n');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('migrations, mirrors and organisations keep state', () => {
    it('migrates a repository (201), refuses the same name again (409), and syncs a mirror', async () => {
      const body = { clone_addr: `${gitea.url}/acme/app.git`, repo_name: 'app-mirror', repo_owner: 'acme', mirror: true, mirror_interval: '1h' };
      const first = await api('POST', '/repos/migrate', { body });
      expect(first.status).toBe(201);
      expect(schemaProblems(first.json, 'Repository')).toEqual([]);
      expect(first.json).toMatchObject({ full_name: 'acme/app-mirror', mirror: true, mirror_interval: '1h0m0s', original_url: `${gitea.url}/acme/app.git` });
      const again = await api('POST', '/repos/migrate', { body });
      expect(again.status).toBe(409);
      expect(again.json.message).toBe('The repository with the same name already exists.');

      const newer = await gitea.commit('acme', 'app', { 'CHANGELOG.md': '1.0\n' }, 'Release');
      const sync = await api('POST', '/repos/acme/app-mirror/mirror-sync');
      expect(sync.status).toBe(200);
      await gitea.settled();
      expect(gitea.mirrorSyncs.at(-1)).toMatchObject({ owner: 'acme', repo: 'app-mirror', ok: true });
      const commits = await api('GET', '/repos/acme/app-mirror/commits?limit=1&stat=false&files=false&verification=false');
      expect(commits.json[0].sha).toBe(newer);
      expect((await api('POST', '/repos/acme/app/mirror-sync')).json.message).toBe('Repository is not a mirror');
    });

    it('validates mirror_interval on PATCH like Gitea (Go duration, at least 10m)', async () => {
      const bad = await api('PATCH', '/repos/acme/app-mirror', { body: { mirror_interval: 'soon' } });
      expect(bad.status).toBe(422);
      expect(bad.json.message).toBe('time: invalid duration "soon"');
      const short = await api('PATCH', '/repos/acme/app-mirror', { body: { mirror_interval: '1m' } });
      expect(short.json.message).toBe('invalid mirror interval: 1m0s is below minimum interval: 10m0s');
      const ok = await api('PATCH', '/repos/acme/app-mirror', { body: { mirror_interval: '90m' } });
      expect(ok.status).toBe(200);
      expect(ok.json.mirror_interval).toBe('1h30m0s');
    });

    it('creates an organisation (201); a second create is a 422, as in Gitea, not a 409', async () => {
      const created = await api('POST', '/orgs', { body: { username: 'platform', visibility: 'private' } });
      expect(created.status).toBe(201);
      expect(schemaProblems(created.json, 'Organization')).toEqual([]);
      const again = await api('POST', '/orgs', { body: { username: 'platform' } });
      expect(again.status).toBe(422);
      expect(again.json.message).toBe('user already exists [name: platform]');
      expect((await api('GET', '/orgs/platform')).json).toMatchObject({ username: 'platform', visibility: 'private' });
      expect((await api('GET', '/orgs/platform', { token: null })).status).toBe(404);
    });

    it('lists an organisation\'s repositories page by page (private ones with a token only); 404 for an unknown organisation', async () => {
      const all = await api('GET', '/orgs/acme/repos?limit=50');
      expect(all.status).toBe(200);
      for (const r of all.json) expect(schemaProblems(r, 'Repository')).toEqual([]);
      const names = all.json.map((r: { name: string }) => r.name);
      expect(names).toEqual(expect.arrayContaining(['app', 'secret']));
      expect(all.headers.get('x-total-count')).toBe(String(names.length));
      expect((await api('GET', '/orgs/acme/repos?limit=1&page=2')).json).toHaveLength(1);
      expect((await api('GET', '/orgs/acme/repos', { token: null })).json.map((r: { name: string }) => r.name)).not.toContain('secret');
      expect((await api('GET', '/orgs/no-such-org/repos')).status).toBe(404);
      expect((await api('GET', '/orgs/acme/repos?sort=name')).status).toBe(422);
    });

    it('refuses migrations from local networks by default, like Gitea', async () => {
      const strict = await startGiteaStandIn({ tokens: [TOKEN] });
      try {
        const r = await fetch(`${strict.apiUrl}/repos/migrate`, {
          method: 'POST',
          headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ clone_addr: `${gitea.url}/acme/app.git`, repo_name: 'copy' }),
        });
        expect(r.status).toBe(422);
        expect(((await r.json()) as { message: string }).message).toBe('You can not import from disallowed hosts.');
      } finally {
        await strict.close();
      }
    });
  });

  describe('REQUIRE_SIGNIN_VIEW', () => {
    it('refuses anonymous API calls with 403 and anonymous clones with 401, as Gitea does when the setting is on', async () => {
      const closed = await startGiteaStandIn({ tokens: [TOKEN], requireSignInView: true });
      try {
        await closed.addRepo('acme', 'open', { files: { 'a.txt': 'a\n' } });
        const anonymous = await fetch(`${closed.apiUrl}/repos/acme/open`);
        expect(anonymous.status).toBe(403);
        expect(await anonymous.json()).toEqual({ message: 'Only signed in user is allowed to call APIs.' });
        const refs = await fetch(`${closed.url}/acme/open.git/info/refs?service=git-upload-pack`);
        expect(refs.status).toBe(401);
        expect(refs.headers.get('www-authenticate')).toBe('Basic realm="Gitea"');
        const signedIn = await fetch(`${closed.url}/acme/open.git/info/refs?service=git-upload-pack`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
        expect(signedIn.status).toBe(200);
        expect(signedIn.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
      } finally {
        await closed.close();
      }
    });
  });

  describe('faults', () => {
    it('fails the next N matching requests with the given status, then serves normally', async () => {
      gitea.faults.add({ method: 'POST', path: '/api/v1/repos/*/*/statuses/*', times: 2, status: 503, headers: { 'retry-after': '0' } });
      const body = { state: 'success', context: 'retry' };
      const first = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body });
      const second = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body });
      const third = await api('POST', `/repos/acme/app/statuses/${secondSha}`, { body });
      expect([first.status, second.status, third.status]).toEqual([503, 503, 201]);
      expect(first.headers.get('retry-after')).toBe('0');
      expect(gitea.faults.pending).toEqual([]);
      expect(gitea.requests.filter((r) => r.fault).length).toBeGreaterThanOrEqual(2);
    });

    it('can delay a request without failing it', async () => {
      gitea.faults.add({ path: '/api/v1/repos/acme/app', delayMs: 150 });
      const started = Date.now();
      expect((await api('GET', '/repos/acme/app')).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });
  });

  describe('Go durations (used for mirror_interval)', () => {
    it('parses and prints like Go’s time package', () => {
      expect(parseGoDuration('1h30m')).toBe(90 * 60e9);
      expect(parseGoDuration('1.5s')).toBe(1.5e9);
      expect(parseGoDuration('10')).toEqual({ error: 'time: missing unit in duration "10"' });
      expect(formatGoDuration(8 * 3600e9)).toBe('8h0m0s');
      expect(formatGoDuration(1.5e9)).toBe('1.5s');
      expect(formatGoDuration(0)).toBe('0s');
    });
  });
});

describe('Gitea 1.27 webhook deliveries (builders)', () => {
  const repo = { owner: { login: 'acme' }, name: 'app' };
  const base = 'http://gitea.example:3000';
  const sha1 = 'a'.repeat(40);
  const sha2 = 'b'.repeat(40);

  it('builds a push payload with Gitea’s fields and a signed delivery with all of Gitea’s headers', () => {
    const payload = pushPayload({
      baseUrl: base, repo, ref: 'refs/heads/main', before: sha1, after: sha2, pusher: { login: 'alice' },
      commits: [{ id: sha2, message: 'Fix <build> & test\n', added: ['a.txt'] }],
    });
    expect(Object.keys(payload)).toEqual(['ref', 'before', 'after', 'compare_url', 'commits', 'total_commits', 'head_commit', 'repository', 'pusher', 'sender']);
    expect(payload.compare_url).toBe(`${base}/acme/app/compare/${sha1}...${sha2}`);
    expect(schemaProblems(payload.repository, 'Repository')).toEqual([]);
    expect(schemaProblems(payload.pusher, 'User')).toEqual([]);

    const delivery = signedDelivery('s3cret', 'push', payload, '0b7d9a52-2f1f-4a5c-9c1e-0f4f4a8c1d11');
    expect(delivery.body).toContain('Fix \\u003cbuild\\u003e \\u0026 test'); // Go's HTML-safe JSON escaping
    expect(JSON.parse(delivery.body)).toEqual(payload);
    const expected = createHmac('sha256', 's3cret').update(delivery.body).digest('hex');
    expect(delivery.headers).toMatchObject({
      'content-type': 'application/json',
      'x-gitea-event': 'push',
      'x-gitea-event-type': 'push',
      'x-gitea-delivery': '0b7d9a52-2f1f-4a5c-9c1e-0f4f4a8c1d11',
      'x-gitea-signature': expected,
      'x-gogs-signature': expected,
      'x-hub-signature-256': `sha256=${expected}`,
      'x-hub-signature': `sha1=${createHmac('sha1', 's3cret').update(delivery.body).digest('hex')}`,
      'x-github-event': 'push',
      'x-gitea-hook-installation-target-type': 'repository',
    });
    expect(signedDelivery('s3cret', 'push', payload).headers['x-gitea-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('leaves compare_url at ROOT_URL for a push that creates a branch from nothing', () => {
    const payload = pushPayload({ baseUrl: base, repo, ref: 'refs/heads/main', before: ZERO_SHA, after: sha2, pusher: { login: 'alice' }, commits: [{ id: sha2, message: 'first\n' }] });
    expect(payload.compare_url).toBe(`${base}/`);
  });

  it('builds pull_request deliveries; "synchronized" goes out as event type pull_request_sync with before/after', () => {
    const opened = pullRequestPayload({ baseUrl: base, action: 'opened', number: 7, repo, base: { ref: 'main', sha: sha1 }, head: { ref: 'feature', sha: sha2 }, sender: { login: 'alice' } });
    expect(opened).not.toHaveProperty('before');
    expect((opened.pull_request as any).head).toMatchObject({ ref: 'feature', sha: sha2, label: 'feature' });
    expect(signedDelivery('k', 'pull_request', opened).headers['x-gitea-event-type']).toBe('pull_request');

    const sync = pullRequestPayload({ baseUrl: base, action: 'synchronized', number: 7, repo, base: { ref: 'main', sha: sha1 }, head: { ref: 'feature', sha: sha2 }, sender: { login: 'alice' }, before: sha1, after: sha2 });
    expect(sync).toMatchObject({ action: 'synchronized', before: sha1, after: sha2, number: 7 });
    const headers = signedDelivery('k', 'pull_request', sync).headers;
    expect([headers['x-gitea-event'], headers['x-gitea-event-type']]).toEqual(['pull_request', 'pull_request_sync']);

    const merged = pullRequestPayload({ baseUrl: base, action: 'closed', number: 7, repo, base: { ref: 'main', sha: sha1 }, head: { ref: 'feature', sha: sha2 }, sender: { login: 'alice' }, merged: { sha: sha2 } });
    expect(merged.pull_request).toMatchObject({ state: 'closed', merged: true, merge_commit_sha: sha2 });
    expect(() => pullRequestPayload({ baseUrl: base, action: 'synchronized', number: 7, repo, base: { ref: 'main', sha: sha1 }, head: { ref: 'feature', sha: 'short' }, sender: { login: 'alice' } })).toThrow(/head.sha/);
  });
});

describe('Gitea API stand-in: the bootstrap endpoints (users, tokens, teams, branch protections; Gitea 1.27 swagger + api.go rules)', () => {
  let gitea: GiteaStandIn;
  const ADMIN = 'site-admin';
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const admin = basic(ADMIN, 'admin-pw');

  async function call(method: string, path: string, auth: string | null, body?: unknown) {
    const res = await fetch(`${gitea.apiUrl}${path}`, {
      method,
      headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  beforeAll(async () => {
    gitea = await startGiteaStandIn({ tokens: [], users: { [ADMIN]: { password: 'admin-pw', admin: true } }, requireSignInView: true });
  });
  afterAll(async () => {
    await gitea.close();
  });

  it('creates a user once (201, then 422), with must_change_password true unless sent, and refuses non-admins', async () => {
    const body = { username: 'bot', email: 'bot@example.invalid', password: 'bot-pw', must_change_password: false, send_notify: false };
    expect((await call('POST', '/admin/users', admin, body)).status).toBe(201);
    expect(await call('POST', '/admin/users', admin, body)).toEqual({ status: 422, json: expect.objectContaining({ message: 'user already exists [name: bot]' }) });
    expect((await call('POST', '/admin/users', admin, { username: 'fresh', email: 'fresh@example.invalid', password: 'x' })).status).toBe(201);
    expect(await call('GET', '/user', basic('fresh', 'x'))).toEqual({ status: 403, json: { message: expect.stringMatching(/^You must change your password/) } });
    expect(await call('POST', '/admin/users', basic('bot', 'bot-pw'), { ...body, username: 'other' })).toEqual({ status: 403, json: expect.objectContaining({ message: 'user should be the site admin' }) });
    // Fields CreateUserOption does not have are refused (Gitea would silently drop them).
    const extra = await call('POST', '/admin/users', admin, { ...body, username: 'x2', email: 'x2@example.invalid', admin: false });
    expect(extra.status).toBe(422);
    expect(extra.json.message).toMatch(/^gitea-standin: unknown field "admin" in CreateUserOption/);
    expect((await call('GET', '/users/bot', admin)).status).toBe(200);
    expect((await call('GET', '/users/nobody', admin)).status).toBe(404);
  });

  it('edits a user only with the fields EditUserOption requires (source_id, login_name), as an admin or a write:admin token', async () => {
    const edit = { login_name: ADMIN, source_id: 0, password: 'admin-pw', must_change_password: false };
    expect((await call('PATCH', `/admin/users/${ADMIN}`, admin, edit)).status).toBe(200);
    const { login_name: _l, ...noLogin } = edit;
    expect(await call('PATCH', `/admin/users/${ADMIN}`, admin, noLogin)).toEqual({ status: 422, json: expect.objectContaining({ message: '[LoginName]: Required' }) });
    const { source_id: _s, ...noSource } = edit;
    expect(await call('PATCH', `/admin/users/${ADMIN}`, admin, noSource)).toEqual({ status: 422, json: expect.objectContaining({ message: 'gitea-standin: EditUserOption.source_id is required by the swagger' }) });
    const cli = gitea.generateAccessToken(ADMIN, 'cli-admin', 'write:admin');
    expect(cli).toMatch(/^[0-9a-f]{40}$/);
    expect((await call('PATCH', `/admin/users/${ADMIN}`, `token ${cli}`, edit)).status).toBe(200);
    // …but token routes need Basic auth: the CLI token cannot delete itself.
    expect((await call('DELETE', `/users/${ADMIN}/tokens/cli-admin`, `token ${cli}`)).status).toBe(403);
    expect((await call('DELETE', `/users/${ADMIN}/tokens/cli-admin`, admin)).status).toBe(204);
  });

  it('models the Gitea CLI’s generate-access-token (method, and the stand-in-only route for a fake kubectl exec)', async () => {
    expect(() => gitea.generateAccessToken('nobody', 'x', 'write:admin')).toThrow('user does not exist [uid: 0, name: nobody]');
    expect(() => gitea.generateAccessToken(ADMIN, 'x', 'write:everything')).toThrow('invalid access token scope provided');
    gitea.generateAccessToken(ADMIN, 'twice', 'read:user');
    expect(() => gitea.generateAccessToken(ADMIN, 'twice', 'read:user')).toThrow('access token name has been used already');
    const route = `${gitea.url}/-/standin-cli/generate-access-token?username=${ADMIN}&token_name=routed&scopes=write:admin`;
    // Off unless asked for (cliRoute): this stand-in was started without it.
    expect((await fetch(route, { method: 'POST' })).status).toBe(404);
    const withCli = await startGiteaStandIn({ tokens: [], users: { [ADMIN]: { password: 'admin-pw', admin: true } }, cliRoute: true });
    try {
      const ok = await fetch(route.replace(gitea.url, withCli.url), { method: 'POST' });
      expect([ok.status, await ok.text()]).toEqual([200, expect.stringMatching(/^[0-9a-f]{40}\n$/)]);
      const again = await fetch(route.replace(gitea.url, withCli.url), { method: 'POST' });
      expect([again.status, await again.text()]).toEqual([400, 'access token name has been used already\n']);
      expect(withCli.tokens().map((t) => `${t.owner}/${t.name} ${t.scopes.join(',')}`)).toEqual([`${ADMIN}/routed write:admin`]);
    } finally {
      await withCli.close();
    }
    expect((await call('DELETE', `/users/${ADMIN}/tokens/twice`, admin)).status).toBe(204);
  });

  it('creates tokens only with Basic auth as the user or an admin, and enforces their scopes', async () => {
    const botAuth = basic('bot', 'bot-pw');
    const made = await call('POST', '/users/bot/tokens', botAuth, { name: 't1', scopes: ['read:repository'] });
    expect(made).toEqual({ status: 201, json: expect.objectContaining({ name: 't1', scopes: ['read:repository'], sha1: expect.stringMatching(/^[0-9a-f]{40}$/) }) });
    expect(await call('POST', '/users/bot/tokens', botAuth, { name: 't1', scopes: ['read:repository'] })).toEqual({ status: 400, json: expect.objectContaining({ message: 'access token name has been used already' }) });
    // Gitea checks the token's scope first (the /users group), then that the call uses Basic auth.
    expect((await call('POST', '/users/bot/tokens', `token ${made.json.sha1}`, { name: 't2', scopes: ['read:repository'] })).status).toBe(403);
    const all = await call('POST', '/users/bot/tokens', botAuth, { name: 'all', scopes: ['all'] });
    expect(await call('POST', '/users/bot/tokens', `token ${all.json.sha1}`, { name: 't2', scopes: ['read:repository'] })).toEqual({ status: 401, json: expect.objectContaining({ message: 'auth required' }) });
    expect((await call('DELETE', '/users/bot/tokens/all', botAuth)).status).toBe(204);
    expect((await call('POST', `/users/${ADMIN}/tokens`, botAuth, { name: 't3', scopes: ['read:repository'] })).status).toBe(403);
    expect((await call('POST', '/users/bot/tokens', botAuth, { name: 't4', scopes: [] })).status).toBe(400);
    expect((await call('POST', '/users/bot/tokens', botAuth, { name: 't5', scopes: ['write:everything'] })).status).toBe(400);
    const token = `token ${made.json.sha1}`;
    expect((await call('GET', '/users/bot', token)).status).toBe(403);
    expect((await call('GET', '/users/bot', token)).json.message).toBe('token does not have at least one of required scope(s), required=[read:user], token scope=read:repository');
    expect((await call('GET', '/users/bot/tokens', botAuth)).json).toEqual([expect.objectContaining({ name: 't1', sha1: '' })]);
    expect((await call('DELETE', '/users/bot/tokens/t1', admin)).status).toBe(204);
    expect((await call('DELETE', '/users/bot/tokens/t1', admin)).status).toBe(404);
    expect((await call('GET', '/user', token)).status).toBe(401);
  });

  it('creates a team with its visibility (an absent one is refused, as newer Gitea does), once, for organisation owners', async () => {
    expect((await call('POST', '/orgs', admin, { username: 'org', visibility: 'public' })).status).toBe(201);
    const team = { name: 'ci-bots', permission: 'write', includes_all_repositories: true, units_map: { 'repo.code': 'write' }, visibility: 'private' };
    const { visibility: _v, ...without } = team;
    expect(await call('POST', '/orgs/org/teams', admin, without)).toEqual({ status: 422, json: expect.objectContaining({ message: '[Visibility]: In' }) });
    const made = await call('POST', '/orgs/org/teams', admin, team);
    expect(made.status).toBe(201);
    expect((await call('POST', '/orgs/org/teams', admin, team)).status).toBe(422);
    expect((await call('POST', '/orgs/org/teams', basic('bot', 'bot-pw'), { ...team, name: 'x' })).status).toBe(403);
    expect((await call('PUT', `/teams/${made.json.id}/members/bot`, admin)).status).toBe(204);
    expect((await call('PUT', `/teams/${made.json.id}/members/bot`, admin)).status).toBe(204);
    expect((await call('GET', '/orgs/org/teams/search?q=ci', admin)).json).toEqual({ ok: true, data: [expect.objectContaining({ id: made.json.id, name: 'ci-bots', visibility: 'private' })] });
    expect(gitea.teams()).toEqual([expect.objectContaining({ name: 'ci-bots', members: ['bot'], unitsMap: { 'repo.code': 'write' } })]);
  });

  it('creates an organisation repository (201, then 409) and a branch protection (201, then 403; 404 before)', async () => {
    const repo = { name: 'gitops', private: true, auto_init: false, default_branch: 'main' };
    expect((await call('POST', '/orgs/org/repos', admin, repo)).status).toBe(201);
    expect((await call('POST', '/orgs/org/repos', admin, repo)).status).toBe(409);
    expect((await call('GET', '/repos/org/gitops/branch_protections/main', admin)).status).toBe(404);
    const rule = { rule_name: 'main', enable_push: true, enable_push_whitelist: true, push_whitelist_usernames: [ADMIN] };
    expect((await call('POST', '/repos/org/gitops/branch_protections', admin, rule)).status).toBe(201);
    expect((await call('POST', '/repos/org/gitops/branch_protections', admin, rule)).status).toBe(403);
    expect((await call('PATCH', '/repos/org/gitops/branch_protections/main', admin, { push_whitelist_usernames: ['nobody'] })).status).toBe(422);
    expect((await call('GET', '/repos/org/gitops/branch_protections/main', admin)).json).toMatchObject({ rule_name: 'main', push_whitelist_usernames: [ADMIN] });
  });
});
