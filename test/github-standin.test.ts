/**
 * The GitHub REST API stand-in (support/github-standin.ts) itself: it refuses what GitHub refuses and its
 * answers satisfy the published schema subset it is built from (test/fixtures/github-api/rest-subset.json).
 */
import { execFile } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubSubset, startGitHubStandIn, type GitHubStandIn } from './support/github-standin.js';

const TOKEN = 'ghp_standintesttoken0123456789';

/** git, asynchronously: the stand-in serves from this very process. */
function git(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => execFile('git', args, { env }, (err, _out, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr })));
}
const UA = { 'user-agent': 'raibid-ci-tests' };

describe('GitHub REST API stand-in (not GitHub)', () => {
  let gh: GitHubStandIn;
  const get = async (path: string, headers: Record<string, string> = UA) => {
    const res = await fetch(`${gh.apiUrl}${path}`, { headers });
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body, headers: res.headers };
  };

  beforeAll(async () => {
    gh = await startGitHubStandIn({ tokens: { [TOKEN]: 'octo' }, maxPerPage: 2 });
    gh.addOwner('octo-org', 'Organization');
    gh.addOwner('octocat', 'User');
    for (const name of ['a', 'b', 'c']) await gh.addRepo('octo-org', name);
    await gh.addRepo('octo-org', 'hidden', { private: true });
    await gh.addRepo('octocat', 'hello');
  });
  afterAll(() => gh?.close());

  it('is built from GitHub\'s description: the three operations and their parameters', () => {
    expect(githubSubset.source).toMatchObject({ project: 'github/rest-api-description', file: 'descriptions/api.github.com/api.github.com.json' });
    expect(githubSubset.operations.map((o) => `${o.method} ${o.path} ${o.operationId}`)).toEqual([
      'GET /orgs/{org}/repos repos/list-for-org',
      'GET /repos/{owner}/{repo} repos/get',
      'GET /users/{username}/repos repos/list-for-user',
    ]);
  });

  it('answers what GitHub would refuse the way GitHub does', async () => {
    expect(await get('/orgs/octo-org/projects')).toMatchObject({ status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } });
    expect((await fetch(`${gh.apiUrl}/orgs/octo-org/repos`, { method: 'POST', headers: UA })).status).toBe(404);
    // fetch always sends a User-Agent; node:http sends none unless asked.
    const noAgent = await new Promise<{ status: number; body: string }>((resolve, reject) =>
      httpGet(`${gh.apiUrl}/orgs/octo-org/repos`, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject),
    );
    expect(noAgent.status).toBe(403);
    expect(noAgent.body).toContain('Please make sure your request has a User-Agent header');
    expect(await get('/orgs/octo-org/repos', { ...UA, authorization: 'Bearer wrong' })).toMatchObject({ status: 401, body: { message: 'Bad credentials' } });
    expect((await get('/orgs/octo-org/repos', { ...UA, 'x-github-api-version': '1999-01-01' })).status).toBe(400);
  });

  it('is stricter than GitHub about query parameters, and says so', async () => {
    expect(await get('/orgs/octo-org/repos?bogus=1')).toMatchObject({ status: 422, body: { message: 'github-standin: query parameter "bogus" is not declared for repos/list-for-org (GitHub would ignore it)' } });
    expect((await get('/orgs/octo-org/repos?type=owner')).body.message).toBe('github-standin: query parameter "type" must be one of all, public, private, forks, sources, member');
    expect((await get('/users/octocat/repos?per_page=ten')).body.message).toBe('github-standin: query parameter "per_page" must be an integer');
  });

  it('serves every required field of minimal-repository, rate-limit headers, and pages by Link to /organizations/{id}/repos', async () => {
    const first = await get('/orgs/octo-org/repos?per_page=100', { ...UA, authorization: `Bearer ${TOKEN}` });
    expect(first.status).toBe(200);
    for (const repo of first.body) for (const field of githubSubset.components.schemas['minimal-repository']!.required!) expect(repo, field).toHaveProperty(field);
    for (const h of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) expect(first.headers.get(h)).toMatch(/^\d+$/);
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1];
    expect(next).toMatch(/\/organizations\/\d+\/repos\?per_page=100&page=2$/);
    const second = await get(next!.slice(gh.apiUrl.length), { ...UA, authorization: `Bearer ${TOKEN}` });
    expect([...first.body, ...second.body].map((r: { name: string }) => r.name).sort()).toEqual(['a', 'b', 'c', 'hidden']);
  });

  it('shows private repositories only to a token, for the API and for git', async () => {
    expect((await get('/repos/octo-org/hidden')).status).toBe(404);
    expect((await get('/repos/octo-org/hidden', { ...UA, authorization: `token ${TOKEN}` })).body).toMatchObject({ private: true, visibility: 'private' });
    const dir = mkdtempSync(join(tmpdir(), 'gh-clone-'));
    try {
      const env = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
      const anonymous = await git(['clone', '--quiet', `${gh.webUrl}/octo-org/hidden.git`, join(dir, 'x')], env);
      expect(anonymous.code).not.toBe(0);
      const withToken = await git(['clone', '--quiet', `${gh.webUrl.replace('://', `://oauth2:${TOKEN}@`)}/octo-org/hidden.git`, join(dir, 'y')], env);
      expect(withToken.stderr).toBe('');
      expect(withToken.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 403 with remaining 0 once the primary limit is used up, and a secondary limit with retry-after', async () => {
    gh.secondaryLimit(1, 7);
    const secondary = await get('/users/octocat/repos');
    expect(secondary.status).toBe(403);
    expect(secondary.headers.get('retry-after')).toBe('7');
    expect(secondary.body.message).toMatch(/secondary rate limit/);
    gh.setRateLimit({ remaining: 0, resetInSeconds: 60 });
    const limited = await get('/users/octocat/repos');
    expect(limited.status).toBe(403);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.body.message).toMatch(/^API rate limit exceeded/);
    gh.setRateLimit({ remaining: 100, resetInSeconds: 60 });
  });
});
