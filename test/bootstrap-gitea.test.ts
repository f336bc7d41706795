/**
 * The Gitea scripts, run for real with sh against stand-ins for sudo, k3s and curl that answer like the
 * cluster and Gitea would, and record every curl call.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from './helpers.js';
import { pushScript, readyScript, repositoryScript, revokeTokenScript, tokenScript } from '../src/bootstrap/gitea-scripts.js';
import { REMOTE_BUNDLE_PATH, tokenKeys } from '../src/bootstrap/gitea.js';

const c = config();
const PASSWORD = 'MOCKADMINPASSWORD';
let bin: string;

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
      'case "$*" in',
      '  *"get service gitea-http"*) printf 10.43.0.50 ;;',
      `  *"{.data.username}"*) printf %s ${Buffer.from('raibid-admin').toString('base64')} ;;`,
      `  *"{.data.password}"*) printf %s ${Buffer.from(PASSWORD).toString('base64')} ;;`,
      '  *) echo "unexpected k3s $*" >&2; exit 1 ;;',
      'esac',
    ].join('\n'),
  );
  // Records each call (with the curl config it was given) and answers like Gitea.
  stub(
    'curl',
    [
      'printf "%s\\n" "$*" >> "$CURL_LOG"',
      'for a in "$@"; do case "$prev" in -K) printf "config: %s\\n" "$(cat "$a")" >> "$CURL_LOG" ;; esac; prev=$a; done',
      'case "$*" in',
      '  *" -w "*) printf %s "$FAKE_STATUS" ;;',
      `  *"POST"*"/tokens"*) printf '{"id":7,"name":"t","sha1":"0123abcdtoken","token_last_eight":"bcdtoken"}' ;;`,
      '  *) printf "{}" ;;',
      'esac',
    ].join('\n'),
  );
});

afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** A git that records its calls; `ls-remote` exits with $FAKE_LS_REMOTE (0: the branch exists). */
function stubGit(): void {
  stub('git', ['printf "git %s\\n" "$*" >> "$CURL_LOG"', 'case "$*" in', '  *ls-remote*) exit "$FAKE_LS_REMOTE" ;;', '  *rev-parse*) printf "abc1234\\n" ;;', 'esac'].join('\n'));
}

function run(script: string, status: string, lsRemote = '2'): { code: number | null; stdout: string; stderr: string; calls: string } {
  const log = join(bin, `curl-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const r = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CURL_LOG: log, FAKE_STATUS: status, FAKE_LS_REMOTE: lsRemote } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: readFileSync(log, 'utf8') };
}

describe('Gitea scripts', () => {
  it('prints only the new token, after removing an old one of the same name', () => {
    const [t] = tokenKeys(c).filter((k) => k.spec.name === 'gitea-agent-token');
    const r = run(tokenScript(c, t.name, t.scopes), '404');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0123abcdtoken');
    const calls = r.calls.split('\n').filter((l) => l.includes('http://'));
    expect(calls[0]).toContain('-X DELETE http://10.43.0.50:3000/api/v1/users/raibid-admin/tokens/raibid-ci-gitea-agent-token-token');
    expect(calls[1]).toContain('-X POST -H Content-Type: application/json --data {"name":"raibid-ci-gitea-agent-token-token","scopes":["write:repository","write:package","read:organization"]} http://10.43.0.50:3000/api/v1/users/raibid-admin/tokens');
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

  it('waits for healthz and the admin login', () => {
    const r = run(readyScript(c), '200');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Gitea is up at http://10.43.0.50:3000\n');
  });

  it('pushes the bundled branch into an empty repository, with the askpass helper', () => {
    stubGit();
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH), '200', '2');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pushed main (abc1234) to raibid/raibid-ci\n');
    const git = r.calls.split('\n').filter((l) => l.startsWith('git '));
    expect(git[0]).toBe('git ls-remote --exit-code --heads http://10.43.0.50:3000/raibid/raibid-ci.git main');
    expect(git[1]).toMatch(new RegExp(`^git clone --quiet --bare ${REMOTE_BUNDLE_PATH} /.+/repo.git$`));
    expect(git[2]).toMatch(/^git -C \/.+\/repo.git push --quiet http:\/\/10.43.0.50:3000\/raibid\/raibid-ci.git refs\/heads\/main:refs\/heads\/main$/);
    expect(r.calls).not.toContain(PASSWORD);
  });

  it('never pushes over a repository that already has the branch', () => {
    stubGit();
    const r = run(pushScript(c, REMOTE_BUNDLE_PATH), '200', '0');
    expect(r.stdout).toBe('raibid/raibid-ci already has main; bootstrap pushes only into an empty repository\n');
    expect(r.calls).not.toContain(' push ');
  });

  it('never fails when revoking on destroy', () => {
    const r = run(revokeTokenScript(c, 'x'), '000');
    expect(r.code).toBe(0);
  });

  it('are valid sh scripts', () => {
    for (const s of [readyScript(c), repositoryScript(c), tokenScript(c, 'x', ['read:repository']), revokeTokenScript(c, 'x'), pushScript(c, REMOTE_BUNDLE_PATH)]) {
      expect(spawnSync('sh', ['-n'], { input: s }).status).toBe(0);
    }
  });
});
