/**
 * `raibid mirror sync` against the GitHub REST API stand-in (support/github-standin.ts, validated against a
 * subset of GitHub's OpenAPI description) and the Gitea API stand-in (support/gitea-standin.ts, which really
 * clones what it migrates: its ALLOW_LOCALNETWORKS is on so it may clone from the loopback GitHub stand-in).
 * The settings file is the one synth writes into the ConfigMap raibid-mirror, with GitHub's hosts pointed at
 * the stand-in.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { mirrorCommand, mirrorsTable } from '../src/mirror/cli.js';
import { MIRROR_ENV } from '../src/mirror/contract.js';
import { findObject, objectsUnder } from './helpers.js';
import { startGitHubStandIn, type GitHubStandIn } from './support/github-standin.js';
import { startGiteaStandIn, type GiteaStandIn } from './support/gitea-standin.js';

const GITEA_TOKEN = 'gitea-mirror-token-for-tests-0123456789';
const GITHUB_TOKEN = 'ghp_githubtokenfortests0123456789abcdef';
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The settings the mirror CronJob reads: the synthesized ConfigMap. */
function synthesizedMirrorSettings(yaml: string): Record<string, unknown> {
  return parse(findObject(objectsUnder('apps/mirror/', yaml), 'ConfigMap', 'raibid-mirror').data['mirrors.yaml']) as Record<string, unknown>;
}

interface Run {
  code: number;
  out: string[];
  err: string[];
  /** The JSON log lines. */
  logs: Record<string, any>[];
  ms: number;
}

describe('raibid mirror sync against the GitHub REST API stand-in and the Gitea API stand-in', () => {
  let github: GitHubStandIn;
  let gitea: GiteaStandIn;

  beforeEach(async () => {
    github = await startGitHubStandIn({ tokens: { [GITHUB_TOKEN]: 'octo' }, maxPerPage: 3 });
    gitea = await startGiteaStandIn({ tokens: { [GITEA_TOKEN]: 'raibid-bot' }, allowLocalNetworks: true });
  });
  afterEach(async () => {
    await gitea?.close();
    await github?.close();
  });

  async function sync(yaml: string, o: { dryRun?: boolean; githubToken?: string | null; settings?: Record<string, unknown> } = {}): Promise<Run> {
    const dir = mkdtempSync(join(tmpdir(), 'raibid-mirror-'));
    temps.push(dir);
    const file = join(dir, 'mirrors.yaml');
    writeFileSync(file, stringify({ ...synthesizedMirrorSettings(yaml), githubApiUrl: github.apiUrl, githubUrl: github.webUrl, ...o.settings }));
    const out: string[] = [];
    const err: string[] = [];
    const env = { [MIRROR_ENV.settings]: file, [MIRROR_ENV.giteaUrl]: gitea.url, [MIRROR_ENV.giteaToken]: GITEA_TOKEN, ...(o.githubToken === null ? {} : { [MIRROR_ENV.githubToken]: o.githubToken ?? GITHUB_TOKEN }) };
    const t0 = Date.now();
    const code = await mirrorCommand('mirror', ['sync', ...(o.dryRun ? ['--dry-run'] : [])], { out: (l) => out.push(l), err: (l) => err.push(l), env });
    const logs = err.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    });
    return { code, out, err, logs, ms: Date.now() - t0 };
  }

  const giteaWrites = (since = 0) => gitea.requests.slice(since).filter((r) => r.method !== 'GET' && r.method !== 'HEAD').map((r) => `${r.method} ${r.path}`);
  const giteaRepo = async (full: string) => (await fetch(`${gitea.apiUrl}/repos/${full}`, { headers: { authorization: `token ${GITEA_TOKEN}` } })).json() as Promise<Record<string, any>>;
  const giteaHead = (owner: string, name: string) => spawnSync('git', ['--git-dir', gitea.repoDir(owner, name), 'rev-parse', 'refs/heads/main'], { encoding: 'utf8' }).stdout.trim();

  it('mirrors a single repository: creates the organisation and a pull mirror with the interval, and Gitea has its commits', async () => {
    github.addOwner('rust-lang', 'Organization');
    const { sha, cloneUrl } = await github.addRepo('rust-lang', 'rust-demo', { description: 'a demo' });
    const r = await sync('mirrors:\n  sources:\n    - from: github.com/rust-lang/rust-demo\n      name: rust\n');
    expect(r.err.filter((l) => !l.startsWith('{'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('created   organisation mirrors');
    expect(r.out.find((l) => l.startsWith('created   mirrors/rust'))).toContain('← github.com/rust-lang/rust-demo (every 1h0m0s)');
    expect(giteaWrites()).toEqual(['POST /api/v1/orgs', 'POST /api/v1/repos/migrate']);
    const repo = await giteaRepo('mirrors/rust');
    expect(repo).toMatchObject({ mirror: true, mirror_interval: '1h0m0s', original_url: cloneUrl, private: false, description: 'a demo' });
    expect(giteaHead('mirrors', 'rust')).toBe(sha);
    // GitHub saw reads only, each with a User-Agent, the API version and the token.
    expect(github.requests.filter((x) => x.kind === 'api').map((x) => [x.method, x.operationId, x.auth, x.status])).toEqual([['GET', 'repos/get', 'token', 200]]);
    expect(r.logs.at(-1)).toMatchObject({ msg: 'mirror sync finished', created: 1, failed: 0 });
    expect(r.err.join('\n') + r.out.join('\n')).not.toMatch(new RegExp(`${GITHUB_TOKEN}|${GITEA_TOKEN}`));
  });

  describe('an organisation', () => {
    const YAML = [
      'mirrors:',
      '  sources:',
      '    - from: github.com/tokio-rs',
      '      owner: tokio',
      '      include: ["^tokio", "^mio$", "^secret"]',
      '      exclude: ["-deprecated$"]',
      '      interval: 30m',
      '',
    ].join('\n');

    beforeEach(async () => {
      github.addOwner('tokio-rs', 'Organization');
      for (const [name, o] of [
        ['tokio', {}],
        ['mio', {}],
        ['loom', {}],
        ['tokio-deprecated', {}],
        ['tokio-old', { archived: true }],
        ['tokio-fork', { fork: true }],
        ['tokio-util', {}],
        ['secret-sauce', { private: true }],
      ] as const) await github.addRepo('tokio-rs', name, o);
    });

    it('lists every page by the Link header, applies include/exclude and leaves out archived repositories and forks', async () => {
      const r = await sync(YAML);
      expect(r.code).toBe(0);
      const created = r.out.filter((l) => l.startsWith('created   tokio/')).map((l) => l.split(/\s+/)[1]);
      expect(created).toEqual(['tokio/mio', 'tokio/secret-sauce', 'tokio/tokio', 'tokio/tokio-util']);
      for (const name of ['mio', 'tokio', 'tokio-util', 'secret-sauce']) expect(await giteaRepo(`tokio/${name}`)).toMatchObject({ mirror: true, mirror_interval: '30m0s' });
      expect((await giteaRepo('tokio/secret-sauce')).private).toBe(true);
      for (const name of ['loom', 'tokio-deprecated', 'tokio-old', 'tokio-fork']) expect((await fetch(`${gitea.apiUrl}/repos/tokio/${name}`, { headers: { authorization: `token ${GITEA_TOKEN}` } })).status).toBe(404);
      expect(r.out.at(-1)).toMatch(/^summary: 4 created, 0 updated, 0 unchanged, 0 orphaned, 4 left out by filters, 0 failed/);
      // 8 repositories, 3 a page: the first page by the documented path, the rest by the Link header.
      const pages = github.requests.filter((x) => x.kind === 'api').map((x) => `${x.path}?${new URLSearchParams(x.query).toString()}`);
      expect(pages[0]).toBe('/orgs/tokio-rs/repos?type=all&per_page=100');
      expect(pages.slice(1)).toEqual([expect.stringMatching(/^\/organizations\/\d+\/repos\?type=all&per_page=100&page=2$/), expect.stringMatching(/^\/organizations\/\d+\/repos\?type=all&per_page=100&page=3$/)]);
      expect(github.requests.filter((x) => x.kind === 'api').every((x) => x.status === 200 && x.userAgent?.startsWith('raibid-ci/'))).toBe(true);
    });

    it('without a GitHub token, mirrors the public repositories only', async () => {
      const r = await sync(YAML, { githubToken: null });
      expect(r.code).toBe(0);
      expect(r.out.filter((l) => l.startsWith('created   tokio/')).map((l) => l.split(/\s+/)[1])).toEqual(['tokio/mio', 'tokio/tokio', 'tokio/tokio-util']);
      expect(github.requests.filter((x) => x.kind === 'api').every((x) => x.auth === 'none')).toBe(true);
    });

    it('is idempotent: a second run changes nothing and writes nothing', async () => {
      expect((await sync(YAML)).code).toBe(0);
      const mark = gitea.requests.length;
      const again = await sync(YAML);
      expect(again.code).toBe(0);
      expect(giteaWrites(mark)).toEqual([]);
      expect(again.out.filter((l) => l.startsWith('unchanged')).length).toBe(4);
      expect(again.out.at(-1)).toMatch(/^summary: 0 created, 0 updated, 4 unchanged, 0 orphaned/);
    });

    it('--dry-run prints the plan (create, update, unchanged, orphaned) and writes nothing', async () => {
      expect((await sync(YAML)).code).toBe(0);
      await github.addRepo('tokio-rs', 'tokio-new');
      const mark = gitea.requests.length;
      // tokio-util left by exclude, tokio-new arrived, the interval changed.
      const changed = YAML.replace('"-deprecated$"', '"-deprecated$", "-util$"').replace('30m', '2h');
      const r = await sync(changed, { dryRun: true });
      expect(r.code).toBe(0);
      expect(giteaWrites(mark)).toEqual([]);
      expect(r.out[0]).toBe('mirror plan (dry run: nothing was written)');
      const rows = Object.fromEntries(r.out.slice(1, -1).map((l) => [l.split(/\s+/)[1], l.split(/\s+/)[0]]));
      expect(rows).toEqual({ 'tokio/mio': 'update', 'tokio/secret-sauce': 'update', 'tokio/tokio': 'update', 'tokio/tokio-new': 'create', 'tokio/tokio-util': 'orphaned' });
      expect(r.out.find((l) => l.startsWith('update    tokio/tokio '))).toContain('(interval 30m0s → 2h0m0s)');
      expect(r.out.find((l) => l.startsWith('orphaned'))).toContain('github.com/tokio-rs/tokio-util is left out now: matched by exclude (-deprecated$, -util$); never deleted');
      expect(r.out.at(-1)).toMatch(/^summary: 1 to create, 3 to update, 0 unchanged, 1 orphaned/);

      // Applying it: updates by PATCH, creates the new mirror, and deletes nothing.
      const applied = await sync(changed);
      expect(applied.code).toBe(0);
      expect(giteaWrites(mark).sort()).toEqual(['PATCH /api/v1/repos/tokio/mio', 'PATCH /api/v1/repos/tokio/secret-sauce', 'PATCH /api/v1/repos/tokio/tokio', 'POST /api/v1/repos/migrate']);
      expect((await giteaRepo('tokio/tokio')).mirror_interval).toBe('2h0m0s');
      expect((await giteaRepo('tokio/tokio-util')).mirror).toBe(true);
    });

    it('reports one failing migration among many, creates the others and exits 1', async () => {
      await github.breakGit('tokio-rs', 'mio');
      const r = await sync(YAML);
      expect(r.code).toBe(1);
      expect(r.out.filter((l) => l.startsWith('created   tokio/')).map((l) => l.split(/\s+/)[1])).toEqual(['tokio/secret-sauce', 'tokio/tokio', 'tokio/tokio-util']);
      const failed = r.out.find((l) => l.startsWith('failed    tokio/mio'));
      expect(failed).toMatch(/← github\.com\/tokio-rs\/mio .*: Gitea migration of tokio\/mio: HTTP 422: Migration failed/);
      expect(r.logs.find((l) => l.msg === 'could not create the mirror')).toMatchObject({ level: 50, mirror: 'tokio/mio', source: 'mirrors.sources[0]' });
      expect(r.out.at(-1)).toMatch(/3 created, .* 1 failed/);
      expect(r.err.join('\n')).not.toContain(GITHUB_TOKEN);
    });

    it('runs at most `concurrency` migrations at once', async () => {
      gitea.faults.add({ method: 'POST', path: '/api/v1/repos/migrate', delayMs: 400, times: 4 });
      const r = await sync(YAML);
      expect(r.code).toBe(0);
      // Four migrations of at least 400 ms, two at a time: two rounds.
      expect(r.ms).toBeGreaterThanOrEqual(800);
    });
  });

  it('reports a source GitHub does not have, still mirrors the others, and exits 1', async () => {
    github.addOwner('acme', 'User');
    await github.addRepo('acme', 'tool');
    const r = await sync('mirrors:\n  sources:\n    - from: github.com/nobody-here\n    - from: github.com/acme\n');
    expect(r.code).toBe(1);
    expect(r.out).toContain('failed    mirrors.sources[0]: github.com/nobody-here not found on GitHub (or the token cannot see it)');
    expect(r.out.some((l) => l.startsWith('created   mirrors/tool'))).toBe(true);
    // An organisation first, then the user of that name (GitHub answers 404 for the organisation).
    expect(github.requests.filter((x) => x.kind === 'api').map((x) => `${x.path} ${x.status}`)).toEqual(['/orgs/nobody-here/repos 404', '/users/nobody-here/repos 404', '/orgs/acme/repos 404', '/users/acme/repos 200']);
  });

  it('refuses a target that exists in Gitea and is not that mirror, and changes nothing about it', async () => {
    github.addOwner('rust-lang', 'Organization');
    await github.addRepo('rust-lang', 'book');
    await gitea.addRepo('mirrors', 'book', { files: { 'README.md': 'ours\n' } });
    const mark = gitea.requests.length;
    const r = await sync('mirrors:\n  sources:\n    - from: github.com/rust-lang/book\n');
    expect(r.code).toBe(1);
    expect(r.out.find((l) => l.startsWith('conflict'))).toContain('mirrors/book exists in Gitea and is not a mirror, not github.com/rust-lang/book; rename or remove it, or set mirrors.sources[0].name');
    expect(giteaWrites(mark)).toEqual([]);
  });

  describe("GitHub's rate limits", () => {
    beforeEach(async () => {
      github.addOwner('rust-lang', 'Organization');
      await github.addRepo('rust-lang', 'book');
      await github.addRepo('rust-lang', 'cargo');
    });
    const YAML = 'mirrors:\n  sources:\n    - from: github.com/rust-lang/book\n    - from: github.com/rust-lang/cargo\n';

    it('waits for the reset when x-ratelimit-remaining reaches 0, instead of running into 403s', async () => {
      synthesizedMirrorSettings(YAML); // synthesize first (cached): the reset must not pass before the first request
      // The reset is a whole second (epoch seconds): 2 s ahead, it cannot pass before the first request.
      github.setRateLimit({ remaining: 1, resetInSeconds: 2 });
      const r = await sync(YAML);
      expect(r.code).toBe(0);
      expect(r.logs.filter((l) => l.msg === 'waiting for GitHub').map((l) => l.reason)).toEqual(['rate-limit']);
      expect(github.requests.filter((x) => x.kind === 'api').map((x) => x.status)).toEqual([200, 200]);
      expect(r.ms).toBeGreaterThanOrEqual(1000);
      expect(r.out.filter((l) => l.startsWith('created'))).toHaveLength(2 + 1);
    });

    it('backs off on a secondary rate limit (403 with retry-after) and retries', async () => {
      github.secondaryLimit(1, 1);
      const r = await sync(YAML);
      expect(r.code).toBe(0);
      expect(github.requests.filter((x) => x.kind === 'api').map((x) => x.status)).toEqual([403, 200, 200]);
      expect(r.logs.find((l) => l.msg === 'waiting for GitHub')).toMatchObject({ reason: 'secondary-rate-limit', seconds: 1, status: 403 });
      expect(r.ms).toBeGreaterThanOrEqual(900);
    });

    it('gives up on a wait longer than the settings allow, naming the token as the fix', async () => {
      github.setRateLimit({ remaining: 0, resetInSeconds: 3600 });
      const r = await sync(YAML, { githubToken: null, settings: { maxRateLimitWaitSeconds: 5 } });
      expect(r.code).toBe(1);
      expect(r.out.join('\n')).toContain('a GitHub token (stack setting raibid-ci:githubToken) raises the limit from 60 to 5000 requests an hour');
      expect(giteaWrites()).toEqual([]);
    });
  });

  it('fails at start on a missing environment, listing every problem (exit 2)', async () => {
    const err: string[] = [];
    const code = await mirrorCommand('mirror', ['sync'], { out: () => undefined, err: (l) => err.push(l), env: { [MIRROR_ENV.giteaUrl]: 'not a url' } });
    expect(code).toBe(2);
    expect(err.join('\n')).toBe(['raibid mirror sync cannot start (3 problems):', '  RAIBID_MIRROR_CONFIG is not set', '  GITEA_URL must be an http(s) URL', '  GITEA_TOKEN is not set'].join('\n'));
  });
});

describe('raibid mirror / raibid mirrors command line', () => {
  const raibid = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env });
    return { code, out, err };
  };

  it('fails on a mistake with one line and exit 2', async () => {
    expect(await raibid(['mirror'])).toEqual({ code: 2, out: [], err: ['raibid: raibid mirror: expected "sync" (run "raibid mirror --help")'] });
    expect(await raibid(['mirror', 'sync', 'now'])).toEqual({ code: 2, out: [], err: ['raibid: raibid mirror: unknown argument "now" (expected "sync")'] });
    const bogus = await raibid(['mirrors', '--bogus']);
    expect([bogus.code, bogus.out, bogus.err.length]).toEqual([2, [], 1]);
    expect(bogus.err[0]).toMatch(/^raibid: Unknown option '--bogus'/);
    expect((await raibid(['mirrors'], { HOME: '/nonexistent' })).err[0]).toMatch(/^raibid: no API address: set RAIBID_API_URL/);
  });

  it('prints help for both commands', async () => {
    expect((await raibid(['mirror', '--help'])).out[0]).toMatch(/^Usage: raibid mirror sync \[--dry-run\]\n/);
    expect((await raibid(['mirrors', '--help'])).out[0]).toMatch(/^Usage: raibid mirrors \[--json\] \[--api URL\] \[--token TOKEN\]\n/);
    expect((await raibid(['--help'])).out[0]).toContain('raibid mirror sync [--dry-run]');
  });

  it('lists mirrors as a table with their state and errors', () => {
    const now = Date.parse('2026-01-02T12:00:00Z');
    const rows = [
      { mirror: 'mirrors/book', source: 'github.com/rust-lang/book', ci: false, interval: '1h0m0s', exists: true, lastSync: '2026-01-02T11:50:00Z', nextSync: '2026-01-02T12:50:00Z', stale: false, lastError: null },
      { mirror: 'mirrors/gone', source: 'github.com/a/gone', ci: true, interval: '1h0m0s', exists: false, lastSync: null, nextSync: null, stale: true, lastError: 'not in Gitea yet' },
    ];
    expect(mirrorsTable(rows, now)).toEqual([
      'MIRROR        SOURCE                     CI   LAST SYNC  NEXT SYNC  STATE',
      'mirrors/book  github.com/rust-lang/book  off  10m ago    in 50m     ok',
      'mirrors/gone  github.com/a/gone          on   never      -          missing',
      'mirrors/gone: not in Gitea yet',
    ]);
  });
});
