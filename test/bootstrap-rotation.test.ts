/**
 * Rotation scripts (rotation-scripts.ts), run for real with sh against stand-ins for sudo and k3s kubectl
 * (rollout, exec into the PostgreSQL pod, the Gitea CLI), which record what they are asked; the admin
 * password against the Gitea API stand-in with the real curl.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from './helpers.js';
import { adminPasswordScript, postgresPasswordScript } from '../src/bootstrap/rotation-scripts.js';
import { inSh } from '../src/bootstrap/shell.js';
import { startGiteaStandIn, type GiteaStandIn } from './support/gitea-standin.js';

const c = config();
const ADMIN = 'MOCKADMINPASSWORD';
let bin: string;

function stub(name: string, body: string): void {
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
}

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), 'raibid-rotation-'));
  stub('sudo', 'exec "$@"');
  // kubectl: the database knows $FAKE_DB_PASSWORD; psql's stdin is recorded; rollouts are recorded.
  stub(
    'k3s',
    [
      'printf "kubectl %s\\n" "$*" >> "$LOG"',
      'case "$*" in',
      '  *"exec -i gitea-postgres-0 -c postgres -- sh -c PGPASSWORD="*) [ "$(cat)" = "$FAKE_DB_PASSWORD" ] ;;',
      '  *"exec -i gitea-postgres-0 -c postgres -- psql"*) printf "sql: %s\\n" "$(cat)" >> "$LOG" ;;',
      '  *"get service gitea-http"*) printf 10.43.0.50 ;;',
      `  *"{.data.username}"*) printf %s ${Buffer.from('raibid-admin').toString('base64')} ;;`,
      `  *"{.data.password}"*) printf %s ${Buffer.from(ADMIN).toString('base64')} ;;`,
      '  *rollout*) ;;',
      '  *) echo "unexpected k3s $*" >&2; exit 1 ;;',
      'esac',
    ].join('\n'),
  );
  // Gitea: GET /user answers $FAKE_USER until a rollout restart is recorded, then 200.
  stub('curl', ['case "$*" in', '  *"/api/healthz"*) printf 200 ;;', '  *"/api/v1/user"*) if grep -q "rollout restart" "$LOG"; then printf 200; else printf %s "$FAKE_USER"; fi ;;', 'esac'].join('\n'));
});

afterAll(() => rmSync(bin, { recursive: true, force: true }));

function run(script: string, stdin: string, env: Record<string, string> = {}, shell = 'sh') {
  const log = join(bin, `log-${Math.random().toString(36).slice(2)}`);
  writeFileSync(log, '');
  const r = spawnSync(shell, ['-c', inSh(script)], { input: stdin, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, LOG: log, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, log: readFileSync(log, 'utf8') };
}

describe('PostgreSQL password rotation (stand-in kubectl and psql)', () => {
  it('changes nothing and restarts nothing when the Secret password already logs in', () => {
    const r = run(postgresPasswordScript(c), 'pw-current', { FAKE_DB_PASSWORD: 'pw-current' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('PostgreSQL password of gitea unchanged\n');
    expect(r.log).not.toContain('sql:');
    expect(r.log).not.toContain('rollout restart');
  });

  it('sets a rotated password inside PostgreSQL with ALTER ROLE on stdin, then restarts Gitea', () => {
    const r = run(postgresPasswordScript(c), "pw-n'ew", { FAKE_DB_PASSWORD: 'pw-old' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.log).toContain(`sql: ALTER ROLE "gitea" WITH PASSWORD 'pw-n''ew';\n`);
    expect(r.log).toContain('kubectl kubectl -n infrastructure rollout restart deployment/gitea\n');
    expect(r.log).toContain('kubectl kubectl -n infrastructure rollout status deployment/gitea --timeout=600s\n');
    // The password is in no command line.
    expect(r.log.split('\n').filter((l) => l.startsWith('kubectl ')).join('\n')).not.toContain('pw-n');
    expect(r.stdout).toBe('PostgreSQL password of gitea set from Secret infrastructure/gitea-postgres\nrestarting Gitea: it reads the database password at start\n');
  });

  it('fails without a password on stdin', () => {
    const r = run(postgresPasswordScript(c), '');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('no PostgreSQL password on stdin\n');
  });

  it('behaves the same under bash and zsh login shells', () => {
    for (const shell of ['bash', 'zsh']) {
      const r = run(postgresPasswordScript(c), 'pw-new', { FAKE_DB_PASSWORD: 'pw-old' }, shell);
      expect(r.code, shell).toBe(0);
      expect(r.log, shell).toContain(`sql: ALTER ROLE "gitea" WITH PASSWORD 'pw-new';`);
    }
  });
});

/**
 * The admin-password step against the Gitea API STAND-IN (test/support/gitea-standin.ts) with the real curl
 * (a wrapper only points the ClusterIP URL at the stand-in), a stand-in kubectl whose `exec` of the Gitea
 * CLI mints the token in the stand-in, and strace recording the argv and environment of every process.
 */
describe('Gitea admin password sync through the API (Gitea API stand-in, stand-in kubectl, strace of every exec)', () => {
  /** Letters and digits to search the trace for, then the characters curl's config and JSON must escape. */
  const MARK = 'Rotated0AdminPw7';
  const ROTATED = `${MARK}"q\\z`;
  let gitea: GiteaStandIn;
  let apiBin: string;

  beforeAll(async () => {
    gitea = await startGiteaStandIn({ tokens: [], users: { 'raibid-admin': { password: 'random-from-the-cli', admin: true } }, requireSignInView: true, cliRoute: true });
    apiBin = mkdtempSync(join(tmpdir(), 'raibid-admin-sync-'));
    const put = (name: string, body: string) => {
      writeFileSync(join(apiBin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(apiBin, name), 0o755);
    };
    put('sudo', 'exec "$@"');
    put(
      'k3s',
      [
        'printf "kubectl %s\\n" "$*" >> "$LOG"',
        'case "$*" in',
        '  *"get service gitea-http"*) printf 10.43.0.50 ;;',
        '  *"exec deployment/gitea -c gitea -- gitea admin user generate-access-token "*)',
        '    [ -z "$FAKE_NO_CLI" ] || { echo "error: unable to upgrade connection" >&2; exit 1; }',
        '    u=; n=; sc=; prev=',
        '    for a in "$@"; do case "$prev" in --username) u=$a ;; --token-name) n=$a ;; --scopes) sc=$a ;; esac; prev=$a; done',
        '    t=$(/usr/bin/curl -sS --fail-with-body -X POST "$GITEA_URL/-/standin-cli/generate-access-token?username=$u&token_name=$n&scopes=$sc") || exit 1',
        '    printf "%s" "$t" > "$TOKEN_FILE"',
        '    printf "%s\\n" "$t" ;;',
        '  *) echo "unexpected k3s $*" >&2; exit 1 ;;',
        'esac',
      ].join('\n'),
    );
    // The real curl, with the ClusterIP URL pointed at the stand-in.
    put('curl', ['for a in "$@"; do shift; case "$a" in http://10.43.0.50:3000*) a="$GITEA_URL${a#http://10.43.0.50:3000}" ;; esac; set -- "$@" "$a"; done', 'exec /usr/bin/curl "$@"'].join('\n'));
  });

  afterAll(async () => {
    await gitea?.close();
    if (apiBin) rmSync(apiBin, { recursive: true, force: true });
  });

  /**
   * Runs the step under strace (every execve with its argv and environment) the way the command provider
   * does; asynchronously, as the stand-in answers from this process.
   */
  async function sync(stdin: string, env: Record<string, string> = {}, shell = 'sh') {
    const log = join(apiBin, `log-${Math.random().toString(36).slice(2)}`);
    const trace = `${log}.trace`;
    const tokenFile = `${log}.token`;
    writeFileSync(log, '');
    const from = gitea.requests.length;
    const child = spawn('strace', ['-f', '-qq', '-e', 'trace=execve', '-v', '-s', '65536', '-o', trace, shell, '-c', inSh(adminPasswordScript(c))], {
      env: { ...process.env, PATH: `${apiBin}:${process.env.PATH}`, LOG: log, GITEA_URL: gitea.url, TOKEN_FILE: tokenFile, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin);
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const r = { status, stdout, stderr };
    const requests = gitea.requests.slice(from).filter((q) => q.kind === 'api').map((q) => `${q.method} ${q.path} ${q.status}`);
    const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8') : '';
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, log: readFileSync(log, 'utf8'), trace: readFileSync(trace, 'utf8'), requests, token };
  }
  const adminPassword = () => gitea.users().find((u) => u.login === 'raibid-admin')!.password;

  it('sets a rotated password with PATCH /admin/users/{username} and a temporary CLI token, deletes the token, restarts nothing', async () => {
    const r = await sync(ROTATED);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(adminPassword()).toBe(ROTATED);
    expect(r.stdout).toMatch(/^Gitea admin raibid-admin: password set from Secret infrastructure\/gitea-admin through the API\ndeleted the temporary access token raibid-password-sync-[0-9a-f]{12}\n$/);
    expect(r.requests).toEqual([
      'GET /api/v1/user 401',
      'PATCH /api/v1/admin/users/raibid-admin 200',
      'GET /api/v1/user 200',
      'GET /api/v1/users/raibid-admin/tokens 200',
      expect.stringMatching(/^DELETE \/api\/v1\/users\/raibid-admin\/tokens\/raibid-password-sync-[0-9a-f]{12} 204$/),
    ]);
    expect(r.log).toMatch(/kubectl kubectl -n infrastructure exec deployment\/gitea -c gitea -- gitea admin user generate-access-token --username raibid-admin --token-name raibid-password-sync-[0-9a-f]{12} --scopes write:admin --raw\n/);
    expect(r.log).not.toContain('rollout');
    expect(gitea.tokens()).toEqual([]);
  });

  it('puts neither the password nor the temporary token into the argv or environment of any process', async () => {
    const r = await sync(`${MARK}second`);
    expect(r.code).toBe(0);
    expect(r.token).toMatch(/^[0-9a-f]{40}$/);
    const execs = r.trace.split('\n').filter((l) => l.includes('execve('));
    // The trace is complete: curl, kubectl (k3s), sed and od were all seen.
    for (const cmd of ['/usr/bin/curl', '/k3s"', '/sed"', '/od"']) expect(execs.some((l) => l.includes(cmd)), cmd).toBe(true);
    expect(execs.filter((l) => l.includes(MARK))).toEqual([]);
    expect(execs.filter((l) => l.includes(r.token))).toEqual([]);
  });

  it('changes nothing on a second run: no token, no PATCH, no restart', async () => {
    const r = await sync(`${MARK}second`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Gitea admin raibid-admin: password unchanged\n');
    expect(r.requests).toEqual(['GET /api/v1/user 200', 'GET /api/v1/users/raibid-admin/tokens 200']);
    expect(r.log).not.toContain('generate-access-token');
    expect(r.log).not.toContain('rollout');
  });

  it('deletes a temporary token that a run stopped halfway left behind', async () => {
    gitea.generateAccessToken('raibid-admin', 'raibid-password-sync-0123456789ab', 'write:admin');
    const r = await sync(`${MARK}second`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Gitea admin raibid-admin: password unchanged\ndeleted the temporary access token raibid-password-sync-0123456789ab\n');
    expect(gitea.tokens()).toEqual([]);
  });

  it('behaves the same under bash and zsh login shells', async () => {
    for (const [i, shell] of ['bash', 'zsh'].entries()) {
      const r = await sync(`${MARK}${shell}${i}`, {}, shell);
      expect([r.code, r.stderr], shell).toEqual([0, '']);
      expect(adminPassword(), shell).toBe(`${MARK}${shell}${i}`);
    }
  });

  it('fails with Gitea’s message when it refuses the new password, leaving the token for the next run to sweep', async () => {
    gitea.faults.add({ method: 'PATCH', path: '/api/v1/admin/users/raibid-admin', status: 422 });
    const r = await sync(`${MARK}refused`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"message":"gitea-standin: injected fault"');
    expect(r.stderr).toContain('The requested URL returned error: 422');
    expect(gitea.tokens().map((t) => t.name)).toEqual([expect.stringMatching(/^raibid-password-sync-/)]);
    // The next run converges: the password set, the leftover token gone.
    const again = await sync(`${MARK}refused`);
    expect(again.code).toBe(0);
    expect(adminPassword()).toBe(`${MARK}refused`);
    expect(gitea.tokens()).toEqual([]);
  });

  it('fails clearly when the Gitea CLI returns no token', async () => {
    const r = await sync(`${MARK}nocli`, { FAKE_NO_CLI: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: unable to upgrade connection\nthe Gitea CLI returned no access token for raibid-admin; look at: sudo k3s kubectl -n infrastructure logs deployment/gitea\n');
  });

  it('fails on any other answer to the login check', async () => {
    gitea.faults.add({ method: 'GET', path: '/api/v1/user', status: 500 });
    const r = await sync(`${MARK}x`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('unexpected answer 500 from Gitea for GET /user\n');
  });

  it('fails without a password on stdin', async () => {
    const r = await sync('');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('no password for the Gitea admin raibid-admin on stdin\n');
  });
});
