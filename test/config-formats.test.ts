import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { brief, cronProblem, dnsNameProblem, gitBranchProblem, httpUrlProblem, imageProblem, quote } from '../src/config/formats.js';
import { configProblems } from './helpers.js';

const problems = configProblems;

describe('flux.branch: git branch names', () => {
  const names = [
    'main', 'release/1.2', 'feature/x.y', 'a-', 'a@b', 'x/HEAD', 'refs/heads/x', 'über', 'a_b+c', // accepted by git
    '', '-x', 'HEAD', 'a..b', 'a/.b', '.a', 'a.lock', 'a/b.lock', 'a.lock/b', 'a b', 'a\tb', 'a~b', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b',
    'a/', '/a', 'a//b', 'a.', 'a@{b', '@{-1}', 'main;rm', 'x\u007f',
  ];
  const cwd = mkdtempSync(join(tmpdir(), 'raibid-refs-')); // outside any repository: @{-1} and @ are not expanded
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('agrees with `git check-ref-format --branch` on every name of the list', () => {
    for (const name of names) {
      const git = spawnSync('git', ['check-ref-format', '--branch', name], { cwd, encoding: 'utf8' }).status === 0;
      expect(gitBranchProblem(name) === undefined, `${JSON.stringify(name)}: git says ${git ? 'valid' : 'invalid'}`).toBe(git);
    }
  });

  it('also refuses "@" alone, which git reads as HEAD in a revision', () => {
    expect(gitBranchProblem('@')).toBe('"@" names the current commit, not a branch');
  });

  it('fails on a branch that would reach a script, naming the key and why', () => {
    expect(problems('flux:\n  branch: "main && reboot"\n')).toEqual([
      'flux.branch: expected a git branch name (git check-ref-format --branch), but it contains a space, a control character or one of ~ ^ : ? * [ \\, got "main && reboot"',
    ]);
  });
});

describe('cron schedules', () => {
  it('accepts five in-range fields, ranges, lists, steps and names', () => {
    for (const ok of ['0 3 * * *', '*/15 * * * *', '0 0-6/2 1,15 * mon-fri', '0 0 1 jan-jun 0', '59 23 31 12 7']) expect(cronProblem(ok), ok).toBeUndefined();
  });

  it('refuses values out of range, wrong field counts and macros', () => {
    for (const bad of ['60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '*/0 * * * *', '5-1 * * * *', '@daily', '* * * *', '* * * * * *', `${'9'.repeat(400)} * * * *`]) {
      expect(cronProblem(bad), bad).toBeDefined();
    }
  });

  it('checks every cron key of the config', () => {
    expect(problems('agents:\n  cachePruneSchedule: "0 3 * * 9"\nmirrors:\n  schedule: "61 4 * * *"\n')).toEqual([
      'agents.cachePruneSchedule: expected a 5-field cron schedule such as "0 3 * * *" (day of week: "9" is outside 0–7), got "0 3 * * 9"',
      'mirrors.schedule: expected a 5-field cron schedule such as "17 4 * * *" (minute: "61" is outside 0–59), got "61 4 * * *"',
    ]);
  });
});

describe('image references (distribution reference grammar)', () => {
  it('accepts registry, port, nested paths, tags and digests', () => {
    for (const ok of ['redis:8', 'docker.io/library/redis:8.2.2-alpine', 'localhost:5000/a/b:v1', 'gitea.dgx.local/raibid-admin/raibid-api:abc123', 'a/b__c/d-e:1', `busybox@sha256:${'a'.repeat(64)}`, `redis:8@sha256:${'0'.repeat(64)}`]) {
      expect(imageProblem(ok), ok).toBeUndefined();
    }
  });

  it('refuses malformed names, missing tags and latest', () => {
    for (const bad of ['name::tag', 'redis', 'redis:', 'Redis:8', 'docker.io//redis:8', '-a:1', 'a_:1', 'a/:1', 'redis:latest', 'redis:.x', `redis@sha256:${'a'.repeat(10)}`, 'a b:1', `${'a/'.repeat(130)}a:1`]) {
      expect(imageProblem(bad), bad).toBeDefined();
    }
  });
});

describe('URLs, domains and shortened values', () => {
  it('accepts http and https URLs with a host only', () => {
    expect(httpUrlProblem('https://mirror.lan:5000/')).toBeUndefined();
    expect(httpUrlProblem('http://10.0.0.5')).toBeUndefined();
    for (const bad of ['mirror.lan', 'ftp://mirror.lan', 'file:///etc/passwd', 'http://', 'https://user:pw@mirror.lan', 'javascript:alert(1)']) expect(httpUrlProblem(bad), bad).toBeDefined();
  });

  it('refuses domain labels over 63 characters and domains that leave no room for gitea.<domain>', () => {
    expect(dnsNameProblem(`${'a'.repeat(63)}.local`)).toBeUndefined();
    expect(dnsNameProblem(`${'a'.repeat(64)}.local`)).toBe('expected DNS labels of at most 63 characters, but one has 64');
    const long = Array.from({ length: 4 }, () => 'a'.repeat(61)).join('.'); // 247 characters: gitea.<it> is 253
    expect(problems(`cluster:\n  domain: ${long}\n`)).toEqual([]);
    expect(problems(`cluster:\n  domain: a${long}\n`)[0]).toMatch(/^cluster\.domain: expected a DNS name of at most 247 characters, got "a{59}…" \(248 characters\)$/);
  });

  it('shortens huge values in messages to 60 characters and says how long they were', () => {
    expect(brief('x'.repeat(61))).toBe(`${'x'.repeat(59)}… (61 characters)`);
    expect(quote('y'.repeat(400))).toBe(`"${'y'.repeat(59)}…" (400 characters)`);
    const message = problems(`node:\n  memory: "${'9'.repeat(400)}Gi"\nredis:\n  image: "${'r'.repeat(500)}"\n`).join('\n');
    expect(message).toContain('node.memory: expected at most 1Pi, got "999');
    expect(message).toContain('(402 characters)');
    expect(message).not.toContain('9'.repeat(61));
    expect(message).not.toContain('r'.repeat(61));
  });
});

describe('quantities written as strings', () => {
  it('refuses zero, sub-millicore and overflowing values wherever a quantity goes', () => {
    expect(problems('node:\n  evictionHard: "0"\n  systemReserved:\n    cpu: "0"\nagents:\n  pools:\n    - name: rust\n      cpu: 0.0001\n      timeout: 0s\n')).toEqual([
      'node.systemReserved.cpu: expected more than 0 (a container with no CPU request is scheduled anywhere), got "0"',
      'node.evictionHard: expected more than 0, got "0"',
      'agents.pools[0].cpu: expected a whole number of millicores (at least "1m"), got 0.0001',
      'agents.pools[0].timeout: expected a duration longer than 0, such as "30s", "10m", "1h" or "7d", got "0s"',
    ]);
    expect(problems('api:\n  resources:\n    cpu: "2000"\n    memory: 2Pi\n')).toEqual(['api.resources.cpu: expected at most 1024 cores, got "2000"', 'api.resources.memory: expected at most 1Pi, got "2Pi"']);
    expect(problems('api:\n  resources:\n    cpu: .inf\nnode:\n  cpu: .nan\n')).toEqual(['node.cpu: expected a finite number, got NaN', 'api.resources.cpu: expected a finite number, got Infinity']);
  });
});

describe('every problem in one run', () => {
  it('lists a schema error and a contradiction together', () => {
    expect(problems('cluster:\n  name: Not_A_Label\nnamespaces:\n  ci: kube-system\n')).toEqual([
      'cluster.name: expected a DNS label (lowercase letters, digits and "-", at most 63 characters), got "Not_A_Label"',
      'namespaces.ci: "kube-system" is a namespace Kubernetes, k3s or Flux owns (default, kube-system, kube-public, kube-node-lease, flux-system, kube-*); give agents and the API a namespace of raibid-ci\'s own',
    ]);
  });

  it('reports no contradiction about a value the schema refused (its default stands in)', () => {
    // memory "lots" is refused; checking memoryLimit 1Gi against the default 4Gi request would be noise.
    expect(problems('agents:\n  pools:\n    - name: rust\n      memory: lots\n      memoryLimit: 1Gi\n')).toEqual(['agents.pools[0].memory: expected a memory quantity such as "512Mi" or "4Gi", got "lots"']);
  });

  it('names both the duplicate key and its line, and an alias bomb at a line', () => {
    expect(problems('gitea:\n  image: a:1\n  storage: 10Gi\n  image: b:1\n')).toEqual(['gitea.image: duplicate key at line 4 (first at line 2); keep one of them']);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...['b', 'c', 'd'].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abc'[i]}`).join(', ')}]`), ''].join('\n');
    expect(problems(bomb)).toEqual(['line 2: too many aliases: the document expands YAML aliases (*name) more than 100 times, as a "billion laughs" document does; write the values out']);
    expect(problems('a: &x 1\nb: *y\n')).toEqual(['line 2: Unresolved alias (the anchor must be set before the alias): y']);
  });
});
