/**
 * The scripts that write registries.yaml, run for real with sh against a temporary folder, with
 * stand-ins for sudo, systemctl and k3s that record every call: k3s restarts exactly when the file's
 * content changes, and the content (the registry token) is never printed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { config } from './helpers.js';
import { registriesYaml } from '../src/bootstrap/k3s-config.js';
import { seedFileScript, writeFileScript } from '../src/bootstrap/shell.js';

const c = config();
const TOKEN = 'MOCKREGISTRYTOKEN0123456789abcdef';
const withAuth = (password: string) => registriesYaml(c, { username: 'raibid-admin', password });
const isRoot = process.getuid?.() === 0;
let root: string;
let bin: string;
let file: string;
let log: string;
/** TMPDIR of the scripts, to see what they leave behind. */
let scratch: string;

function stub(name: string, body: string): void {
  const path = join(bin, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'raibid-registries-'));
  bin = join(root, 'bin');
  spawnSync('mkdir', [bin]);
  log = join(root, 'calls.log');
  scratch = join(root, 'tmp');
  spawnSync('mkdir', [scratch]);
  // Not root (a developer machine): `install -o root -g root` would fail, so the stand-in drops the owner.
  stub('sudo', isRoot ? 'exec "$@"' : 'if [ "$1" = install ]; then shift; exec install $(printf "%s\\n" "$@" | sed "/^-[og]$/{N;d}"); fi\nexec "$@"');
  stub('systemctl', 'printf "systemctl %s\\n" "$*" >> "$CALLS"\ncase "$1" in is-active) exit "$FAKE_K3S_ACTIVE" ;; esac');
  stub('k3s', 'printf "k3s %s\\n" "$*" >> "$CALLS"\n[ "$FAKE_READYZ_FAIL" = 1 ] && exit 1\nexit 0');
  stub('sleep', 'exit 0');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeEach(() => {
  file = join(root, `etc-${Math.random().toString(36).slice(2)}`, 'registries.yaml');
  writeFileSync(log, '');
});

/** Runs a script the way the command provider does (sh, content on stdin); k3s active unless told. */
function run(text: string, stdin: string, active = true): { code: number | null; stdout: string; stderr: string; calls: string[] } {
  const r = spawnSync('sh', ['-c', text], { input: stdin, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: scratch, CALLS: log, FAKE_K3S_ACTIVE: active ? '0' : '3' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

/** Runs with an API server that never answers /readyz after the restart. */
function runStuck(text: string, stdin: string): { code: number | null; stderr: string } {
  const r = spawnSync('sh', ['-c', text], { input: stdin, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: scratch, CALLS: log, FAKE_K3S_ACTIVE: '0', FAKE_READYZ_FAIL: '1' } });
  return { code: r.status, stderr: r.stderr };
}

const restarts = (calls: readonly string[]) => calls.filter((l) => l === 'systemctl restart k3s').length;

describe('registries.yaml with the registry login (writeFileScript)', () => {
  it('writes the file root-only and restarts k3s, then waits for the API server', () => {
    const r = run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(withAuth(TOKEN));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    if (isRoot) expect([statSync(file).uid, statSync(file).gid]).toEqual([0, 0]);
    expect(restarts(r.calls)).toBe(1);
    expect(r.calls).toContain('k3s kubectl get --raw /readyz');
    expect(r.stdout).toBe(`wrote ${file}\nrestarted k3s\n`);
  });

  it('does not restart k3s when the content is the same', () => {
    run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    writeFileSync(log, '');
    const r = run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file} unchanged\n`);
    expect(r.calls).toEqual([]);
  });

  it('replaces the file and restarts k3s once when the token changes', () => {
    run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    writeFileSync(log, '');
    const r = run(writeFileScript(file, '0600', true), withAuth(`${TOKEN}new`));
    expect(readFileSync(file, 'utf8')).toBe(withAuth(`${TOKEN}new`));
    expect(restarts(r.calls)).toBe(1);
  });

  it('replaces the file without auth (the seed) and restarts k3s', () => {
    run(writeFileScript(file, '0600', true), registriesYaml(c));
    writeFileSync(log, '');
    const r = run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    expect(readFileSync(file, 'utf8')).toBe(withAuth(TOKEN));
    expect(restarts(r.calls)).toBe(1);
  });

  it('writes without restarting when k3s does not run', () => {
    const r = run(writeFileScript(file, '0600', true), withAuth(TOKEN), false);
    expect(readFileSync(file, 'utf8')).toBe(withAuth(TOKEN));
    expect(r.calls).toEqual(['systemctl is-active --quiet k3s']);
  });

  it('never prints the token or leaves a copy behind', () => {
    for (const content of [withAuth(TOKEN), withAuth(TOKEN), withAuth(`${TOKEN}x`)]) {
      const r = run(writeFileScript(file, '0600', true), content);
      expect(r.stdout + r.stderr + r.calls.join('\n')).not.toContain('MOCKREGISTRYTOKEN');
    }
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe('API server wait after a restart', () => {
  it('fails loudly when the API server does not come back', () => {
    const r = runStuck(writeFileScript(file, '0600', true), withAuth(TOKEN));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('the k3s API server did not answer /readyz within 300 s; look at: sudo journalctl -u k3s\n');
  });
});

describe('first registries.yaml (seedFileScript)', () => {
  const seed = () => seedFileScript(file, '0600', true, 'the RegistryAuth step');

  it('writes the file when the machine has none', () => {
    const r = run(seed(), registriesYaml(c), false);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(registriesYaml(c));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps the file RegistryAuth wrote, and k3s running', () => {
    run(writeFileScript(file, '0600', true), withAuth(TOKEN));
    writeFileSync(log, '');
    const r = run(seed(), registriesYaml(c));
    expect(r.stdout).toBe(`${file} exists; kept (the RegistryAuth step keeps it up to date)\n`);
    expect(readFileSync(file, 'utf8')).toBe(withAuth(TOKEN));
    expect(r.calls).toEqual([]);
  });

  it('restarts a running k3s when it had to write the file', () => {
    const r = run(seed(), registriesYaml(c));
    expect(existsSync(file)).toBe(true);
    expect(restarts(r.calls)).toBe(1);
  });

  it('are valid sh scripts', () => {
    for (const s of [seed(), writeFileScript(file, '0600', true)]) expect(spawnSync('sh', ['-n'], { input: s }).status).toBe(0);
  });
});
