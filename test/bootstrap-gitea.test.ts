/**
 * The Gitea scripts, run for real with sh against stand-ins for sudo, k3s and curl that answer like the
 * cluster and Gitea would, and record every curl call (with the curl config and any request body file).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from './helpers.js';
import { branchProtectionScript, pushScript, readyScript, repositoryScript, revokeTokenScript, tokenScript } from '../src/bootstrap/gitea-scripts.js';
import { BOT_TEAM, botTeamScript, botUserScript } from '../src/bootstrap/gitea-bot-scripts.js';
import { REMOTE_BUNDLE_PATH, tokenKeys } from '../src/bootstrap/gitea.js';
import { inSh } from '../src/bootstrap/shell.js';

const c = config();
const PASSWORD = 'MOCKADMINPASSWORD';
/** The bootstrap commit, and the head the stub git's bundle lists for it. */
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const BOT_PASSWORD = 'MOCKBOTPASSWORD0123456789abcdefgh';
/** A team as Gitea's API returns it (the organisation inside it has a name and an id too). */
const team = (id: number) => `{"id":${id},"name":"${BOT_TEAM}","description":"d","organization":{"id":1,"name":"raibid","full_name":""},"includes_all_repositories":true,"permission":"write"}`;
let bin: string;
/** zsh on this machine (the login-shell test is skipped without it: nothing to run it with). */
const hasZsh = spawnSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' }).status === 0;

function stub(name: string, body: string): void {
  const path = join(bin, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), 'raibid-stubs-'));
  stub('sudo', 'exec "$@"');
  stub(
    'k3s',
    [
      'case "$*" in *"{.data."*) [ -n "$FAKE_NO_SECRET" ] && { echo "Error from server (NotFound): secrets \\"gitea-admin\\" not found" >&2; exit 1; } ;; esac',
      'case "$*" in',
      '  *"get service gitea-http"*) printf 10.43.0.50 ;;',
      `  *"{.data.username}"*) printf %s ${Buffer.from('raibid-admin').toString('base64')} ;;`,
      `  *"{.data.password}"*) printf %s ${Buffer.from(PASSWORD).toString('base64')} ;;`,
      '  *) echo "unexpected k3s $*" >&2; exit 1 ;;',
      'esac',
    ].join('\n'),
  );
  // Records each call (with the curl config and the body file it was given) and answers like Gitea.
  stub(
    'curl',
    [
      'printf "%s\\n" "$*" >> "$CURL_LOG"',
      // A shell that does not split `${3:+--data "$3"}` (zsh) hands curl one word: curl rejects it.
      'for a in "$@"; do case "$a" in "--data "*) echo "curl: option $a: is unknown" >&2; exit 2 ;; esac; done',
      'for a in "$@"; do case "$prev" in -K) printf "config: %s\\n" "$(cat "$a")" >> "$CURL_LOG" ;; --data-binary) printf "body: %s\\n" "$(cat "${a#@}")" >> "$CURL_LOG" ;; esac; prev=$a; done',
      'case "$*" in',
      '  *" -w "*) printf %s "$FAKE_STATUS" ;;',
      `  *"POST"*"/tokens"*) [ -n "$FAKE_NO_TOKEN" ] && { echo '{"message":"boom"}'; exit 22; }; printf '{"id":7,"name":"t","sha1":"0123abcdtoken","token_last_eight":"bcdtoken"}' ;;`,
      '  *"GET"*"/teams/search"*) printf %s "$FAKE_TEAMS" ;;',
      '  *"GET"*"/tokens?"*) printf %s "${FAKE_TOKENS:-[]}" ;;',
      `  *"POST"*"/orgs/raibid/teams"*) printf %s '${team(9)}' ;;`,
      '  *) printf "{}" ;;',
      'esac',
    ].join('\n'),
  );
});

afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** A git that records its calls; `ls-remote` exits with $FAKE_LS_REMOTE (0: the branch exists). */
function stubGit(): void {
  stub('git', ['printf "git %s\\n" "$*" >> "$CURL_LOG"', 'case "$*" in', '  *ls-remote*) exit "$FAKE_LS_REMOTE" ;;', `  *"bundle list-heads"*) printf '%s refs/raibid-ci/bootstrap/dgx\\n' "\${FAKE_HEAD:-${COMMIT}}" ;;`, 'esac'].join('\n'));
}

interface RunOptions {
  /** What `git ls-remote` exits with (0: the branch exists). */
  readonly lsRemote?: string;
  /** The script's stdin (the bot's password), as the command provider passes it. */
  readonly stdin?: string;
  /** Answer of the team search. */
  readonly teams?: string;
  /**
   * The login shell sshd would start: given `inSh(script)` with `-c`, the way the command provider's
   * remote commands reach it. Without it, sh runs the script itself.
   */
  readonly loginShell?: string;
  /** Run the bare script under `loginShell` (what the commands did before inSh). */
  readonly bare?: boolean;
  /** $HOME of the script. */
  readonly home?: string;
  /** More environment. */
  readonly env?: Record<string, string>;
}

/** Runs a script the way the command provider does: `sh -c <script>`, stdin separate. */
function run(script: string, status: string, opts: RunOptions = {}): { code: number | null; stdout: string; stderr: string; calls: string } {
  const log = join(bin, `curl-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, CURL_LOG: log, FAKE_STATUS: status, FAKE_LS_REMOTE: opts.lsRemote ?? '2', FAKE_TEAMS: opts.teams ?? '{"data":[],"ok":true}', ...(opts.home ? { HOME: opts.home } : {}), ...opts.env };
  const command = opts.loginShell ? (opts.bare ? script : inSh(script)) : script;
  const r = spawnSync(opts.loginShell ?? 'sh', ['-c', command], { input: opts.stdin ?? '', encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: readFileSync(log, 'utf8') };
}

/** The HTTP calls (method and URL path), in order. */
const requests = (calls: string) =>
  calls
    .split('\n')
    .filter((l) => l.includes('http://'))
    .map((l) => `${/-X (\S+)/.exec(l)?.[1]} ${/http:\/\/10\.43\.0\.50:3000(\S+)/.exec(l)?.[1]}`);

describe('Gitea scripts', () => {
  it('prints only the new token; the first one goes under its name', () => {
    const [t] = tokenKeys(c).filter((k) => k.spec.name === 'gitea-agent-token');
    const r = run(tokenScript(c, t.name, t.scopes), '404');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0123abcdtoken');
    expect(requests(r.calls)).toEqual(['GET /api/v1/users/raibid-admin/tokens?limit=50', 'POST /api/v1/users/raibid-admin/tokens']);
    expect(r.calls).toContain('-X POST -H Content-Type: application/json --data {"name":"raibid-ci-gitea-agent-token-token","scopes":["write:repository","write:package","read:organization"]} http://10.43.0.50:3000/api/v1/users/raibid-admin/tokens');
  });

  it('creates the new token before it deletes the old one, alternating between two names', () => {
    const tokens = (...names: string[]) => ({ FAKE_TOKENS: JSON.stringify(names.map((name, i) => ({ id: i + 1, name, sha1: '', token_last_eight: 'abcdefgh', scopes: ['read:package'] }))) });
    const again = run(tokenScript(c, 'pull', ['read:package']), '204', { env: tokens('pull', 'other') });
    expect(again.stdout).toBe('0123abcdtoken');
    expect(requests(again.calls)).toEqual(['GET /api/v1/users/raibid-admin/tokens?limit=50', 'POST /api/v1/users/raibid-admin/tokens', 'DELETE /api/v1/users/raibid-admin/tokens/pull']);
    expect(again.calls).toContain('--data {"name":"pull.next","scopes":["read:package"]}');
    // …and back: the next rotation is created under the first name, then pull.next goes.
    const back = run(tokenScript(c, 'pull', ['read:package']), '204', { env: tokens('pull.next') });
    expect(requests(back.calls)).toEqual(['GET /api/v1/users/raibid-admin/tokens?limit=50', 'POST /api/v1/users/raibid-admin/tokens', 'DELETE /api/v1/users/raibid-admin/tokens/pull.next']);
    expect(back.calls).toContain('--data {"name":"pull","scopes":["read:package"]}');
    // A leftover under both names (a run stopped halfway): the unused name is cleared first, the old one kept until the new one exists.
    const both = run(tokenScript(c, 'pull', ['read:package']), '204', { env: tokens('pull', 'pull.next') });
    expect(requests(both.calls)).toEqual(['GET /api/v1/users/raibid-admin/tokens?limit=50', 'DELETE /api/v1/users/raibid-admin/tokens/pull.next', 'POST /api/v1/users/raibid-admin/tokens', 'DELETE /api/v1/users/raibid-admin/tokens/pull']);
  });

  it('keeps the old token when Gitea creates no new one', () => {
    const r = run(tokenScript(c, 'pull', ['read:package']), '204', { env: { FAKE_TOKENS: '[{"id":1,"name":"pull"}]', FAKE_NO_TOKEN: '1' } });
    expect(r.code).not.toBe(0);
    expect(requests(r.calls)).not.toContain('DELETE /api/v1/users/raibid-admin/tokens/pull');
  });

  it('hands the admin password to curl in a config file, never as an argument', () => {
    const r = run(tokenScript(c, 'x', ['read:repository']), '404');
    const args = r.calls.split('\n').filter((l) => !l.startsWith('config: '));
    expect(args.join('\n')).not.toContain(PASSWORD);
    expect(r.calls).toContain(`config: user = "raibid-admin:${PASSWORD}"`);
  });

  it('creates the organisation and the repository when missing', () => {
    const r = run(repositoryScript(c), '404');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('created organisation raibid\ncreated repository raibid/raibid-ci\n');
    expect(r.calls).toContain('--data {"username":"raibid","visibility":"public"');
    expect(r.calls).toContain('--data {"name":"raibid-ci","private":true,"auto_init":false,"default_branch":"main"');
  });

  it('leaves an existing organisation and repository alone', () => {
    const r = run(repositoryScript(c), '200');
    expect(r.stdout).toBe('organisation raibid exists\nrepository raibid/raibid-ci exists\n');
    expect(r.calls).not.toContain('POST');
  });

  it('fails on an unexpected answer from Gitea', () => {
    const r = run(repositoryScript(c), '500');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('unexpected answer from Gitea for GET /orgs/raibid\n');
  });

  it('waits for healthz (the admin password is the next step’s to set)', () => {
    const r = run(readyScript(c), '200');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Gitea is up at http://10.43.0.50:3000\n');
  });

  it('pushes the bootstrap commit from the bundle in the home folder into an empty repository, with the askpass helper', () => {
    stubGit();
    const home = mkdtempSync(join(tmpdir(), 'raibid-home-'));
    writeFileSync(join(home, REMOTE_BUNDLE_PATH), 'bundle');
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { lsRemote: '2', home });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pushed main (0123456789ab) to raibid/raibid-ci\n');
    const git = r.calls.split('\n').filter((l) => l.startsWith('git '));
    expect(git[0]).toBe('git -c credential.helper= ls-remote --exit-code --heads http://10.43.0.50:3000/raibid/raibid-ci.git main');
    expect(git[1]).toBe(`git bundle list-heads ${home}/${REMOTE_BUNDLE_PATH}`);
    expect(git[2]).toMatch(/^git init --quiet --bare \/.+\/repo.git$/);
    expect(git[3]).toMatch(new RegExp(`^git -C /.+/repo.git fetch --quiet ${home}/${REMOTE_BUNDLE_PATH} refs/raibid-ci/bootstrap/dgx$`));
    expect(git[4]).toMatch(new RegExp(`^git -c credential.helper= -C /.+/repo.git push --quiet http://10.43.0.50:3000/raibid/raibid-ci.git ${COMMIT}:refs/heads/main$`));
    expect(r.calls).not.toContain(PASSWORD);
    // Pushed: the copy is removed.
    expect(existsSync(join(home, REMOTE_BUNDLE_PATH))).toBe(false);
    rmSync(home, { recursive: true, force: true });
  });

  it('fails clearly when the bundle is gone or holds another commit, and pushes nothing', () => {
    stubGit();
    const home = mkdtempSync(join(tmpdir(), 'raibid-home-'));
    const gone = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { lsRemote: '2', home });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`${home}/${REMOTE_BUNDLE_PATH} is missing on the machine; copy it again: pulumi up --replace "$(pulumi stack --show-urns | grep -o 'urn:[^ ]*raibid-gitea-bundle')"\n`);
    writeFileSync(join(home, REMOTE_BUNDLE_PATH), 'bundle');
    const other = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { lsRemote: '2', home, env: { FAKE_HEAD: 'f'.repeat(40) } });
    expect(other.code).toBe(1);
    expect(other.stderr).toBe(`${home}/${REMOTE_BUNDLE_PATH} has no head at the bootstrap commit ${COMMIT}\n`);
    for (const r of [gone, other]) expect(r.calls).not.toContain(' push ');
    rmSync(home, { recursive: true, force: true });
  });

  it('never pushes over a repository that already has the branch', () => {
    stubGit();
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { lsRemote: '0' });
    expect(r.stdout).toBe('raibid/raibid-ci already has main; bootstrap pushes only into an empty repository\n');
    expect(r.calls).not.toContain(' push ');
  });

  it('fails when git ls-remote fails for another reason than a missing branch (exit 2)', () => {
    stubGit();
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { lsRemote: '128' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('git ls-remote of http://10.43.0.50:3000/raibid/raibid-ci.git failed (exit 128):\n');
    expect(r.calls).not.toContain(' push ');
  });

  it('fails with a clear message when the admin credentials cannot be read from the cluster', () => {
    const r = spawnSync('sh', ['-c', repositoryScript(c)], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CURL_LOG: '/dev/null', FAKE_STATUS: '404', FAKE_NO_SECRET: '1' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot read the Gitea admin credentials from Secret infrastructure/gitea-admin');
  });

  it('bounds every curl call to Gitea in time', () => {
    for (const s of [readyScript(c), repositoryScript(c), pushScript(c, REMOTE_BUNDLE_PATH, COMMIT)]) {
      const curls = s.split('\n').flatMap((l) => l.match(/curl [^;]*/g) ?? []);
      expect(curls.length).toBeGreaterThan(0);
      for (const call of curls) expect(call).toContain('--connect-timeout 5 --max-time 60');
    }
  });

  it.skipIf(!hasZsh)('runs under a zsh login shell through inSh (and fails without it)', () => {
    const ok = run(repositoryScript(c), '404', { loginShell: 'zsh' });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('created organisation raibid\ncreated repository raibid/raibid-ci\n');
    const bare = run(repositoryScript(c), '404', { loginShell: 'zsh', bare: true });
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain('is unknown');
  });

  it('survives a round trip through inSh for scripts with quotes and backslashes', () => {
    for (const s of [botUserScript(c), botTeamScript(c), tokenScript(c, "it's", ['read:repository'])]) {
      const r = spawnSync('sh', ['-c', `${inSh('printf %s "$0"')} ${inSh(s).slice('sh -c '.length)}`], { encoding: 'utf8' });
      expect(r.stdout).toBe(s);
    }
  });

  it('pushes as the admin (the one user the branch protection lets push)', () => {
    // A git that asks for the credentials of the push the way git does, through GIT_ASKPASS.
    stub('git', ['case "$*" in', '  *ls-remote*) exit 2 ;;', `  *"bundle list-heads"*) echo ${COMMIT} refs/heads/main ;;`, `  *" push "*) printf 'askpass: %s:%s\\n' "$("$GIT_ASKPASS" "Username for 'http://x'")" "$("$GIT_ASKPASS" "Password for 'http://x'")" >> "$CURL_LOG" ;;`, 'esac'].join('\n'));
    const home = mkdtempSync(join(tmpdir(), 'raibid-home-'));
    writeFileSync(join(home, REMOTE_BUNDLE_PATH), 'bundle');
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH, COMMIT), '200', { home });
    rmSync(home, { recursive: true, force: true });
    expect(r.calls).toContain(`askpass: raibid-admin:${PASSWORD}\n`);
  });

  it('creates the bot user through the admin API, never an admin, with the password from stdin in a body file', () => {
    const r = run(botUserScript(c), '404', { stdin: BOT_PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('created user raibid-bot\n');
    expect(requests(r.calls)).toEqual(['GET /api/v1/users/raibid-bot', 'POST /api/v1/admin/users', 'PATCH /api/v1/admin/users/raibid-bot']);
    expect(r.calls).toContain(`config: user = "raibid-admin:${PASSWORD}"`);
    const body = JSON.parse(r.calls.split('\n').find((l) => l.startsWith('body: '))!.slice(6));
    expect(body).toEqual({ password: BOT_PASSWORD, username: 'raibid-bot', email: 'bot@dgx.local', must_change_password: false, send_notify: false });
    // Gitea takes allow_create_organization on edits only: the bot may create the mirror organisations.
    const edit = JSON.parse(r.calls.split('\n').filter((l) => l.startsWith('body: '))[1]!.slice(6));
    expect(edit).toEqual({ password: BOT_PASSWORD, login_name: 'raibid-bot', source_id: 0, email: 'bot@dgx.local', must_change_password: false, admin: false, allow_create_organization: true });
    // Only in the body file: never in curl's arguments.
    const args = r.calls.split('\n').filter((l) => !l.startsWith('body: '));
    expect(args.join('\n')).not.toContain(BOT_PASSWORD);
  });

  it('re-applies the password and settings of an existing bot user', () => {
    const r = run(botUserScript(c), '200', { stdin: BOT_PASSWORD });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('user raibid-bot exists; password and settings applied\n');
    expect(requests(r.calls)).toEqual(['GET /api/v1/users/raibid-bot', 'PATCH /api/v1/admin/users/raibid-bot']);
    const body = JSON.parse(r.calls.split('\n').find((l) => l.startsWith('body: '))!.slice(6));
    expect(body).toEqual({ password: BOT_PASSWORD, login_name: 'raibid-bot', source_id: 0, email: 'bot@dgx.local', must_change_password: false, admin: false, allow_create_organization: true });
  });

  it('escapes the bot password for JSON and fails without one', () => {
    const r = run(botUserScript(c), '404', { stdin: 'a"b\\c' });
    expect(JSON.parse(r.calls.split('\n').find((l) => l.startsWith('body: '))!.slice(6)).password).toBe('a"b\\c');
    const none = run(botUserScript(c), '404');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('no password for raibid-bot on stdin\n');
    expect(requests(none.calls)).toEqual([]);
    expect(run(botUserScript(c), '500', { stdin: BOT_PASSWORD }).stderr).toBe('unexpected answer from Gitea for GET /users/raibid-bot\n');
  });

  it('creates the bot team with write access to code and packages of every repository, and adds the bot', () => {
    const r = run(botTeamScript(c), '200');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`created team ${BOT_TEAM} of raibid\nraibid-bot is a member of ${BOT_TEAM} (write access to the code and packages of raibid's repositories)\n`);
    expect(requests(r.calls)).toEqual([`GET /api/v1/orgs/raibid/teams/search?q=${BOT_TEAM}`, 'POST /api/v1/orgs/raibid/teams', 'PUT /api/v1/teams/9/members/raibid-bot']);
    const post = r.calls.split('\n').find((l) => l.includes('-X POST'))!;
    const body = JSON.parse(/--data (\{.*\}) http/.exec(post)![1]);
    expect(body).toEqual({
      name: BOT_TEAM,
      description: 'raibid-ci bot users: clone, commit status, image push',
      permission: 'write',
      includes_all_repositories: true,
      can_create_org_repo: false,
      units: ['repo.code', 'repo.packages'],
      units_map: { 'repo.code': 'write', 'repo.packages': 'write' },
      visibility: 'private',
    });
  });

  it('re-applies the settings of an existing team (found by name, not by the organisation inside it) and adds the bot again', () => {
    const r = run(botTeamScript(c), '200', { teams: `{"data":[${team(4)}],"ok":true}` });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`team ${BOT_TEAM} of raibid exists; settings applied\nraibid-bot is a member of ${BOT_TEAM} (write access to the code and packages of raibid's repositories)\n`);
    expect(requests(r.calls)).toEqual([`GET /api/v1/orgs/raibid/teams/search?q=${BOT_TEAM}`, 'PATCH /api/v1/teams/4', 'PUT /api/v1/teams/4/members/raibid-bot']);
    // A similar name is another team.
    const other = run(botTeamScript(c), '200', { teams: `{"data":[${team(4).replace(`"${BOT_TEAM}"`, `"${BOT_TEAM}-old"`)}],"ok":true}` });
    expect(requests(other.calls)[1]).toBe('POST /api/v1/orgs/raibid/teams');
  });

  it('protects the GitOps branch: only the admin may push or merge', () => {
    const r = run(branchProtectionScript(c), '404');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('branch main of raibid/raibid-ci: only raibid-admin may push (rule created)\n');
    expect(requests(r.calls)).toEqual(['GET /api/v1/repos/raibid/raibid-ci/branch_protections/main', 'POST /api/v1/repos/raibid/raibid-ci/branch_protections']);
    const post = r.calls.split('\n').find((l) => l.includes('-X POST'))!;
    expect(JSON.parse(/--data (\{.*\}) http/.exec(post)![1])).toEqual({
      rule_name: 'main',
      branch_name: 'main',
      enable_push: true,
      enable_push_whitelist: true,
      push_whitelist_usernames: ['raibid-admin'],
      push_whitelist_teams: [],
      push_whitelist_deploy_keys: false,
      enable_merge_whitelist: true,
      merge_whitelist_usernames: ['raibid-admin'],
      merge_whitelist_teams: [],
    });
  });

  it('brings an existing branch protection back to the rule', () => {
    const r = run(branchProtectionScript(c), '200');
    expect(r.stdout).toBe('branch main of raibid/raibid-ci: only raibid-admin may push (rule updated)\n');
    expect(requests(r.calls)).toEqual(['GET /api/v1/repos/raibid/raibid-ci/branch_protections/main', 'PATCH /api/v1/repos/raibid/raibid-ci/branch_protections/main']);
    const patch = JSON.parse(/--data (\{.*\}) http/.exec(r.calls.split('\n').find((l) => l.includes('-X PATCH'))!)![1]);
    expect(patch).toMatchObject({ enable_push: true, enable_push_whitelist: true, push_whitelist_usernames: ['raibid-admin'] });
    expect(patch.rule_name).toBeUndefined();
    expect(run(branchProtectionScript(c), '500').stderr).toBe('unexpected answer from Gitea for GET /repos/raibid/raibid-ci/branch_protections/main\n');
  });

  it('creates a bot token as the bot, with the password from stdin, never as an argument', () => {
    const [t] = tokenKeys(c).filter((k) => k.user === 'bot');
    const r = run(tokenScript(c, t.name, t.scopes, 'bot'), '404', { stdin: BOT_PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0123abcdtoken');
    expect(requests(r.calls)).toEqual(['GET /api/v1/users/raibid-bot/tokens?limit=50', 'POST /api/v1/users/raibid-bot/tokens']);
    expect(r.calls).toContain(`config: user = "raibid-bot:${BOT_PASSWORD}"`);
    expect(r.calls).not.toContain(PASSWORD);
    expect(r.calls.split('\n').filter((l) => !l.startsWith('config: ')).join('\n')).not.toContain(BOT_PASSWORD);
    const none = run(tokenScript(c, t.name, t.scopes, 'bot'), '404');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('no password for raibid-bot on stdin\n');
  });

  it('revokes a token of its owner as the admin', () => {
    const r = run(revokeTokenScript(c, 'raibid-ci-gitea-agent-token-token', 'bot'), '204', { stdin: BOT_PASSWORD });
    expect(requests(r.calls)).toEqual(['DELETE /api/v1/users/raibid-bot/tokens/raibid-ci-gitea-agent-token-token', 'DELETE /api/v1/users/raibid-bot/tokens/raibid-ci-gitea-agent-token-token.next']);
    expect(r.calls).toContain(`config: user = "raibid-admin:${PASSWORD}"`);
    expect(requests(run(revokeTokenScript(c, 'x'), '204').calls)).toEqual(['DELETE /api/v1/users/raibid-admin/tokens/x', 'DELETE /api/v1/users/raibid-admin/tokens/x.next']);
  });

  it('never fails when revoking on destroy', () => {
    const r = run(revokeTokenScript(c, 'x'), '000');
    expect(r.code).toBe(0);
  });

  it('sends only fields Gitea\'s API has, and every required one (swagger fixtures of the 1.2x line)', () => {
    type Swagger = { definitions: Record<string, { required?: string[]; properties: Record<string, unknown> }>; bindingRules?: Record<string, { json: string; absentIsZero?: boolean }[]> };
    const swagger = [readFileSync('test/fixtures/gitea-api/swagger-bootstrap.json', 'utf8'), readFileSync('test/fixtures/gitea-api/swagger-subset.json', 'utf8')].map((t) => JSON.parse(t) as Swagger);
    // Fields Gitea validates even when absent (plain Go fields: "" fails In(...)).
    const absentIsZero = (name: string) => swagger.flatMap((d) => d.bindingRules?.[name] ?? []).filter((r) => r.absentIsZero).map((r) => r.json);
    const definition = (name: string) => swagger.map((d) => d.definitions[name]).find(Boolean)!;
    const bodyOf: [RegExp, string][] = [
      [/^POST \/api\/v1\/orgs$/, 'CreateOrgOption'],
      [/^POST \/api\/v1\/orgs\/[^/]+\/repos$/, 'CreateRepoOption'],
      [/^POST \/api\/v1\/orgs\/[^/]+\/teams$/, 'CreateTeamOption'],
      [/^PATCH \/api\/v1\/teams\/\d+$/, 'EditTeamOption'],
      [/^POST \/api\/v1\/admin\/users$/, 'CreateUserOption'],
      [/^PATCH \/api\/v1\/admin\/users\/[^/]+$/, 'EditUserOption'],
      [/^POST \/api\/v1\/repos\/[^/]+\/[^/]+\/branch_protections$/, 'CreateBranchProtectionOption'],
      [/^PATCH \/api\/v1\/repos\/[^/]+\/[^/]+\/branch_protections\/[^/]+$/, 'EditBranchProtectionOption'],
      [/^POST \/api\/v1\/users\/[^/]+\/tokens$/, 'CreateAccessTokenOption'],
    ];
    const runs = [
      run(repositoryScript(c), '404'),
      run(botUserScript(c), '404', { stdin: BOT_PASSWORD }),
      run(botUserScript(c), '200', { stdin: BOT_PASSWORD }),
      run(botTeamScript(c), '200'),
      run(botTeamScript(c), '200', { teams: `{"data":[${team(4)}],"ok":true}` }),
      run(branchProtectionScript(c), '404'),
      run(branchProtectionScript(c), '200'),
      run(tokenScript(c, 'x', ['read:repository']), '404'),
    ];
    const seen = new Set<string>();
    for (const r of runs) {
      const lines = r.calls.split('\n');
      lines.forEach((line, i) => {
        const m = /-X (\S+) .*http:\/\/10\.43\.0\.50:3000(\S+)$/.exec(line);
        if (!m || m[1] === 'GET' || m[1] === 'DELETE' || m[1] === 'PUT') return;
        const inline = /--data (\{.*\}) http/.exec(line)?.[1];
        const file = lines.slice(i + 1).find((l) => l.startsWith('body: '))?.slice(6);
        const sent = JSON.parse(inline ?? file!) as Record<string, unknown>;
        const route = `${m[1]} ${m[2]}`;
        const name = bodyOf.find(([re]) => re.test(route))?.[1];
        expect(name, route).toBeDefined();
        const def = definition(name!);
        expect(Object.keys(sent).filter((k) => !(k in def.properties)), `${route} (${name})`).toEqual([]);
        expect([...(def.required ?? []), ...absentIsZero(name!)].filter((k) => !(k in sent)), `${route} (${name}) required`).toEqual([]);
        seen.add(name!);
      });
    }
    expect([...seen].sort()).toEqual(bodyOf.map(([, n]) => n).sort());
  });

  it('are valid sh scripts', () => {
    const scripts = [readyScript(c), repositoryScript(c), tokenScript(c, 'x', ['read:repository']), tokenScript(c, 'x', ['read:repository'], 'bot'), revokeTokenScript(c, 'x'), pushScript(c, REMOTE_BUNDLE_PATH, COMMIT)];
    for (const s of [...scripts, botUserScript(c), botTeamScript(c), branchProtectionScript(c)]) {
      expect(spawnSync('sh', ['-n'], { input: s }).status).toBe(0);
    }
  });
});
