/**
 * Every value from raibid.yaml reaches a generated script as one single-quoted word (shell.ts `sh()` /
 * `word()`), never where the shell would expand or split it. Checked two ways: statically, with a small
 * sh lexer that finds each hostile value and asks whether it sits inside single quotes; and by running
 * the scripts, which must not execute the value.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config } from './helpers.js';
import type { RaibidConfig } from '../src/config/resolve.js';
import { branchProtectionScript, pushScript, readyScript, repositoryScript, revokeTokenScript, tokenScript } from '../src/bootstrap/gitea-scripts.js';
import { botTeamScript, botUserScript } from '../src/bootstrap/gitea-bot-scripts.js';
import { REMOTE_BUNDLE_PATH, revokeAllTokensScript } from '../src/bootstrap/gitea.js';
import { hostsScript } from '../src/bootstrap/k3s.js';
import { preflightScript } from '../src/bootstrap/preflight-script.js';
import { adminPasswordScript, postgresPasswordScript } from '../src/bootstrap/rotation-scripts.js';

/** The payload: a command substitution, a variable, a double quote and a backtick. */
const EVIL = '$(touch${IFS}PWNED)"`touch${IFS}PWNED`';

/** The default config with every string a script interpolates replaced by a hostile one (validation bypassed on purpose). */
function hostile(): RaibidConfig {
  const c = structuredClone(config()) as unknown as Record<string, any>;
  const v = (name: string) => `${name}${EVIL}`;
  c.flux = { ...c.flux, branch: v('branch'), organization: v('org'), repository: v('repo') };
  c.gitea = { ...c.gitea, admin: { ...c.gitea.admin, username: v('admin') }, bot: { ...c.gitea.bot, username: v('bot'), email: v('bot@') } };
  c.namespaces = { ...c.namespaces, infrastructure: v('infra') };
  c.cluster = { ...c.cluster, nodeAddress: v('10.0.0.1') };
  c.registryHost = v('gitea.');
  return c as unknown as RaibidConfig;
}

/** Offsets of `needle` in `text` that the shell would not read as single-quoted text. */
function unquoted(text: string, needle: string): number[] {
  // Quote context per character: 'single' (literal), or anything else.
  const literal = new Array<boolean>(text.length).fill(false);
  const stack: ('none' | 'double' | 'cmd')[] = ['none'];
  const lines = text.split('\n');
  let offset = 0;
  let heredoc: { end: string; quoted: boolean } | undefined;
  // Single quotes may span lines (a quoted multi-line awk program).
  let single = false;
  for (const line of lines) {
    if (heredoc) {
      if (line === heredoc.end) heredoc = undefined;
      else if (heredoc.quoted) for (let i = 0; i < line.length; i++) literal[offset + i] = true;
      offset += line.length + 1;
      continue;
    }
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      const top = stack[stack.length - 1];
      if (single) {
        if (ch === "'") single = false;
        else literal[offset + i] = true;
        continue;
      }
      if (ch === '\\') {
        i++;
        continue;
      }
      if (top !== 'double' && ch === "'") single = true;
      else if (ch === '"') top === 'double' ? stack.pop() : stack.push('double');
      else if (ch === '$' && line[i + 1] === '(') (stack.push('cmd'), i++);
      else if (top === 'cmd' && ch === ')') stack.pop();
      else if (top !== 'double' && ch === '#' && (i === 0 || /\s/.test(line[i - 1]))) break;
    }
    const m = /<<-?\s*('?)([A-Za-z_]+)\1\s*$/.exec(line);
    if (m && !single) heredoc = { end: m[2], quoted: m[1] === "'" };
    if (single) literal[offset + line.length] = true;
    offset += line.length + 1;
  }
  const out: number[] = [];
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    if (![...needle].every((_, k) => literal[at + k])) out.push(at);
  }
  return out;
}

/** `sh -c '<script>' || true` lines (revocations) as the scripts they run. */
function unwrapNested(script: string): string[] {
  const nested = [...script.matchAll(/^sh -c '((?:[^']|'"'"')*)' \|\| true$/gm)].map((m) => m[1].replace(/'"'"'/g, "'"));
  return nested.length > 0 ? nested : [script];
}

const c = hostile();
const scripts: Record<string, string> = {
  readyScript: readyScript(c),
  repositoryScript: repositoryScript(c),
  'tokenScript (admin)': tokenScript(c, 'raibid-x-token', ['read:package']),
  'tokenScript (bot)': tokenScript(c, 'raibid-x-token', ['read:package'], 'bot'),
  revokeTokenScript: revokeTokenScript(c, 'raibid-x-token', 'bot'),
  revokeAllTokensScript: revokeAllTokensScript(c),
  branchProtectionScript: branchProtectionScript(c),
  pushScript: pushScript(c, REMOTE_BUNDLE_PATH, '0123456789abcdef0123456789abcdef01234567'),
  botUserScript: botUserScript(c),
  botTeamScript: botTeamScript(c),
  hostsScript: hostsScript(c),
  preflightScript: preflightScript(c, 'host'),
  postgresPasswordScript: postgresPasswordScript(c),
  adminPasswordScript: adminPasswordScript(c),
};

describe('shell quoting of configured values in every generated script', () => {
  it.each(Object.entries(scripts))('%s carries each hostile value only inside single quotes', (_, script) => {
    expect(script).toContain('PWNED');
    for (const text of unwrapNested(script)) {
      expect(text).toContain('PWNED');
      const bad = ['$(touch${IFS}PWNED)', '`touch${IFS}PWNED`'].flatMap((needle) => unquoted(text, needle).map((at) => text.slice(Math.max(0, at - 60), at + needle.length)));
      expect(bad).toEqual([]);
    }
  });

  it('finds an unquoted value (so the check above can fail)', () => {
    expect(unquoted(`echo "pushed ${EVIL}"`, '$(touch${IFS}PWNED)')).toHaveLength(1);
    expect(unquoted(`url="$gitea/${EVIL}.git"`, '$(touch${IFS}PWNED)')).toHaveLength(1);
    expect(unquoted(`echo 'pushed '"$(git rev-parse ${EVIL})"`, '$(touch${IFS}PWNED)')).toHaveLength(1);
    expect(unquoted(`echo 'a ${EVIL.replace('"', '')}'`, '$(touch${IFS}PWNED)')).toEqual([]);
  });

  it('never runs a configured value when the scripts run (sh, with failing stand-ins)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raibid-quoting-'));
    try {
      for (const [name, script] of Object.entries(scripts)) {
        // No k3s, curl or git: every script stops early or fails, but nothing it parsed may run.
        spawnSync('sh', ['-c', script], { cwd: dir, input: 'pw', encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin', HOME: dir } });
        expect(existsSync(join(dir, 'PWNED')), name).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
