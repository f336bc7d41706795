/**
 * What a job runs and how it is reported, without Redis or Gitea: the pipeline file (parsePipeline,
 * branch filters, its JSON schema), the plan an agent makes from a checkout (planJob, defaultSteps),
 * secret masking, the buildctl command line, commit statuses, and reading Gitea webhook deliveries.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { branchMatches, parsePipeline, pipelineJsonSchema, pipelineSchema, pipelineStepSchema } from '../src/jobs/pipeline.js';
import { defaultSteps, planJob, type PlannedStep } from '../src/agents/runner/plan.js';
import { MASK, Masker } from '../src/agents/runner/mask.js';
import { branchTag, buildctlCommand, type ImageBuild } from '../src/agents/runner/image.js';
import { commitStatus } from '../src/jobs/status.js';
import { parseRecord, type JobRecord, type JobStatus } from '../src/jobs/record.js';
import { PayloadError, readDelivery, verifySignature } from '../src/api/server/webhooks.js';
import { pullRequestPayload, pushPayload, ZERO_SHA, type PullRequestAction } from './support/gitea-webhooks.js';

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
/** A temporary checkout with these files. */
function checkout(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-plan-'));
  temps.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('parsePipeline', () => {
  it('reads a valid file with its defaults', () => {
    const text = `# yaml-language-server: $schema=raibid-pipeline.schema.json
pool: rust
branches: [main, "release/*"]
env: { RUST_BACKTRACE: 1, CI: true, NAME: x }
timeout: 20m
image: { dockerfile: docker/Dockerfile }
steps:
  - name: test
    command: cargo test --locked
    timeout: 10m
    env: { RUST_LOG: debug }
  - name: clean up
    command: rm -rf target/tmp
    always: true
`;
    const r = parsePipeline(text);
    expect(r).toEqual({
      ok: true,
      pipeline: {
        pool: 'rust',
        branches: ['main', 'release/*'],
        pullRequests: true,
        env: { RUST_BACKTRACE: '1', CI: 'true', NAME: 'x' },
        timeout: '20m',
        image: { dockerfile: 'docker/Dockerfile', context: '.', push: true },
        steps: [
          { name: 'test', command: 'cargo test --locked', timeout: '10m', env: { RUST_LOG: 'debug' } },
          { name: 'clean up', command: 'rm -rf target/tmp', always: true },
        ],
      },
    });
  });

  it('an empty file is a pipeline with defaults only', () => {
    expect(parsePipeline('')).toEqual({ ok: true, pipeline: { pullRequests: true } });
    expect(parsePipeline('# nothing but a comment\n')).toEqual({ ok: true, pipeline: { pullRequests: true } });
  });

  it('lists every problem at once, each with its path', () => {
    const text = `pool: Rust_Pool
timeout: soon
env: { "1BAD": x }
steps:
  - name: build
    comand: cargo build
  - name: test
    command: cargo test
    timeout: 10 minutes
  - name: test
    command: cargo test --release
`;
    const r = parsePipeline(text, 'ci/.raibid.yaml');
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems;
    const expected = [
      /^ci\/\.raibid\.yaml: pool: expected a pool name$/,
      /^ci\/\.raibid\.yaml: timeout: expected a duration such as "90s", "10m" or "1h"$/,
      /^ci\/\.raibid\.yaml: env\.1BAD: /,
      /^ci\/\.raibid\.yaml: steps\[0\]: Unrecognized key: "comand"$/,
      /^ci\/\.raibid\.yaml: steps\[0\]\.command: /,
      /^ci\/\.raibid\.yaml: steps\[1\]\.timeout: expected a duration/,
      /^ci\/\.raibid\.yaml: steps\[2\]\.name: duplicate step name "test"$/,
    ];
    for (const re of expected) expect(problems, String(re)).toContainEqual(expect.stringMatching(re));
    expect(problems).toHaveLength(expected.length);
  });

  it('refuses duplicate step names in an otherwise valid file', () => {
    expect(parsePipeline('steps:\n  - { name: a, command: x }\n  - { name: b, command: y }\n  - { name: a, command: z }\n')).toEqual({ ok: false, problems: ['.raibid.yaml: steps[2].name: duplicate step name "a"'] });
  });

  it('refuses a file that is not a mapping, and empty steps', () => {
    expect(parsePipeline('- a\n- b\n')).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\.raibid\.yaml: \(top level\): .*object/)] });
    expect(parsePipeline('steps: []\n')).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\.raibid\.yaml: steps: /)] });
  });

  it('refuses malformed YAML and duplicate keys with the line', () => {
    const bad = parsePipeline('pool: rust\nsteps:\n  - name: a\n   command: x\n');
    expect(bad).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\.raibid\.yaml: line 4: /)] });
    const dupe = parsePipeline('pool: rust\npool: docs\n');
    expect(dupe).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\.raibid\.yaml: line 2: .*unique/)] });
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(10).fill(`*${'abcdefghij'[i - 1]}`).join(', ')}]`);
    const started = Date.now();
    const r = parsePipeline(`${levels.join('\n')}\n`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\.raibid\.yaml: .*alias/i)] });
  });
});

describe('branchMatches', () => {
  it('matches every branch without patterns', () => {
    expect(branchMatches('anything/at/all', undefined)).toBe(true);
  });

  it('"*" stays within one path segment, "**" crosses them', () => {
    expect(branchMatches('release/1.0', ['release/*'])).toBe(true);
    expect(branchMatches('release/1.0/hotfix', ['release/*'])).toBe(false);
    expect(branchMatches('release/1.0/hotfix', ['release/**'])).toBe(true);
    expect(branchMatches('main', ['*'])).toBe(true);
    expect(branchMatches('feature/x', ['*'])).toBe(false);
    expect(branchMatches('feature/x', ['**'])).toBe(true);
    expect(branchMatches('feature/x-y', ['feature/*-y'])).toBe(true);
  });

  it('matches whole names and treats other characters literally', () => {
    expect(branchMatches('main', ['main', 'develop'])).toBe(true);
    expect(branchMatches('mainline', ['main'])).toBe(false);
    expect(branchMatches('old-main', ['main'])).toBe(false);
    expect(branchMatches('v1x0', ['v1.0'])).toBe(false);
    expect(branchMatches('v1.0', ['v1.0'])).toBe(true);
    expect(branchMatches('a+b', ['a+b'])).toBe(true);
    expect(branchMatches('docs', ['main', 'release/*'])).toBe(false);
  });
});

describe('pipelineJsonSchema', () => {
  it('is a JSON schema whose properties are the pipeline schema\'s keys', () => {
    const s = pipelineJsonSchema() as { $schema: string; type: string; properties: Record<string, { items?: { properties?: Record<string, unknown>; additionalProperties?: unknown } }>; additionalProperties: unknown; required?: string[] };
    expect(s.$schema).toMatch(/json-schema\.org/);
    expect(s.type).toBe('object');
    expect(Object.keys(s.properties).sort()).toEqual(Object.keys(pipelineSchema.shape).sort());
    expect(s.additionalProperties).toBe(false);
    expect(s.required ?? []).toEqual([]);
    const step = s.properties.steps.items!;
    expect(Object.keys(step.properties!).sort()).toEqual(Object.keys(pipelineStepSchema.shape).sort());
    expect(step.additionalProperties).toBe(false);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});

describe('planJob and defaultSteps', () => {
  const names = (steps: readonly PlannedStep[]) => steps.map((s) => s.name);
  const commands = (steps: readonly PlannedStep[]) => steps.map((s) => s.command);
  const nothing = () => false;
  const everything = () => true;

  it('a Cargo project: fmt, clippy, build, test (cargo test without nextest), no audit without Cargo.lock', () => {
    const d = defaultSteps(checkout({ 'Cargo.toml': '[package]\nname = "x"\n' }), nothing)!;
    expect(d.source).toBe('default pipeline (Cargo.toml)');
    expect(names(d.steps)).toEqual(['fmt', 'clippy', 'build', 'test']);
    expect(commands(d.steps)).toEqual(['cargo fmt --all --check', 'cargo clippy --all-targets -- -D warnings', 'cargo build --all-targets', 'cargo test']);
    expect(d.steps.map((s) => s.requires)).toEqual([['cargo', 'cargo-fmt'], ['cargo', 'cargo-clippy'], ['cargo'], ['cargo']]);
  });

  it('a Cargo project with nextest and a Cargo.lock: nextest and audit', () => {
    const has = (p: string) => p === 'cargo-nextest';
    const d = defaultSteps(checkout({ 'Cargo.toml': '', 'Cargo.lock': '' }), has)!;
    expect(names(d.steps)).toEqual(['fmt', 'clippy', 'build', 'test', 'audit']);
    expect(d.steps[3]).toMatchObject({ command: 'cargo nextest run --no-tests=pass', requires: ['cargo', 'cargo-nextest'] });
    expect(d.steps[4]).toMatchObject({ command: 'cargo audit', requires: ['cargo', 'cargo-audit'] });
  });

  it('an npm project: npm ci with a lockfile, npm install without one', () => {
    const locked = defaultSteps(checkout({ 'package.json': '{}', 'package-lock.json': '{}' }), everything)!;
    expect(locked.source).toBe('default pipeline (package.json)');
    expect(commands(locked.steps)).toEqual(['npm ci', 'npm test']);
    expect(commands(defaultSteps(checkout({ 'package.json': '{}', 'npm-shrinkwrap.json': '{}' }), everything)!.steps)).toEqual(['npm ci', 'npm test']);
    expect(commands(defaultSteps(checkout({ 'package.json': '{}' }), everything)!.steps)).toEqual(['npm install', 'npm test']);
  });

  it('nothing recognised: no default pipeline, and planJob says why', () => {
    const dir = checkout({ 'README.md': '# hi\n' });
    expect(defaultSteps(dir, everything)).toBeUndefined();
    const r = planJob(dir, { has: everything, buildImages: true });
    expect(r).toEqual({ ok: false, reason: 'nothing to run: no steps in .raibid.yaml, and no Cargo.toml or package.json for a default pipeline' });
    const noSteps = planJob(checkout({ 'ci.yaml': 'pool: rust\n' }), { pipelineFile: 'ci.yaml', has: everything, buildImages: true });
    expect(noSteps).toMatchObject({ ok: false, reason: expect.stringContaining('no steps in ci.yaml') });
  });

  it('the pipeline file\'s steps win over the default pipeline', () => {
    const dir = checkout({ 'Cargo.toml': '', '.raibid.yaml': 'timeout: 20m\nenv: { A: 1 }\nsteps:\n  - { name: check, command: make check, timeout: 90s, env: { B: two } }\n  - { name: report, command: make report, always: true }\n' });
    const r = planJob(dir, { has: everything, buildImages: true });
    expect(r).toEqual({
      ok: true,
      plan: {
        source: '.raibid.yaml',
        timeoutMs: 1_200_000,
        env: { A: '1' },
        steps: [
          { name: 'check', command: 'make check', timeoutMs: 90_000, env: { B: 'two' }, always: false, requires: [] },
          { name: 'report', command: 'make report', timeoutMs: undefined, env: {}, always: true, requires: [] },
        ],
      },
    });
  });

  it('a pipeline file without steps keeps the default pipeline and names both', () => {
    const r = planJob(checkout({ 'package.json': '{}', '.raibid.yaml': 'pool: docs\n' }), { has: everything, buildImages: true });
    expect(r).toMatchObject({ ok: true, plan: { source: '.raibid.yaml with the default pipeline (package.json)' } });
    if (r.ok) expect(names(r.plan.steps)).toEqual(['install', 'test']);
  });

  it('an invalid pipeline file is the reason, with its problems', () => {
    const r = planJob(checkout({ 'Cargo.toml': '', '.raibid.yaml': 'steps:\n  - name: a\n    comand: x\n' }), { has: everything, buildImages: true });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid \.raibid\.yaml: .*steps\[0\].*"comand"/) });
  });

  it('adds the image step when a Dockerfile exists, unless image: false or images are off', () => {
    const withDockerfile = checkout({ 'Cargo.toml': '', Dockerfile: 'FROM scratch\n' });
    const r = planJob(withDockerfile, { has: everything, buildImages: true });
    expect(r.ok && names(r.plan.steps)).toEqual(['fmt', 'clippy', 'build', 'test', 'image']);
    expect(r.ok && r.plan.steps.at(-1)).toEqual({ name: 'image', command: '', env: {}, always: false, requires: ['buildctl'], image: { dockerfile: 'Dockerfile', context: '.', push: true } });
    const off = planJob(withDockerfile, { has: everything, buildImages: false });
    expect(off.ok && names(off.plan.steps)).not.toContain('image');
    const disabled = planJob(checkout({ 'Cargo.toml': '', Dockerfile: '', '.raibid.yaml': 'image: false\n' }), { has: everything, buildImages: true });
    expect(disabled.ok && names(disabled.plan.steps)).toEqual(['fmt', 'clippy', 'build', 'test']);
    // Without a Dockerfile at the root, no image step unless the pipeline asks.
    const noDockerfile = planJob(checkout({ 'Cargo.toml': '' }), { has: everything, buildImages: true });
    expect(noDockerfile.ok && names(noDockerfile.plan.steps)).not.toContain('image');
  });

  it('image settings from the pipeline file; an image-only repository', () => {
    const settings = planJob(checkout({ 'package.json': '{}', '.raibid.yaml': 'image: { dockerfile: docker/app.Dockerfile, context: app, push: false }\n' }), { has: everything, buildImages: true });
    expect(settings.ok && settings.plan.steps.at(-1)?.image).toEqual({ dockerfile: 'docker/app.Dockerfile', context: 'app', push: false });
    const imageOnly = planJob(checkout({ Dockerfile: 'FROM scratch\n' }), { has: everything, buildImages: true });
    expect(imageOnly).toMatchObject({ ok: true, plan: { source: 'image build only' } });
    expect(imageOnly.ok && names(imageOnly.plan.steps)).toEqual(['image']);
  });
});

describe('Masker', () => {
  it('masks the values of variables whose names look secret, and only those', () => {
    const m = Masker.fromEnv({ GITEA_TOKEN: 'tok-123456789', DB_PASSWORD: 'hunter2hunter2', MY_API_KEY: 'key-abcdef', AWS_SECRET_ACCESS_KEY: 'aws-secret-xyz', HOME: '/home/agent', PATH: '/usr/bin:/bin' });
    expect(m.mask('token tok-123456789 and password hunter2hunter2, key-abcdef aws-secret-xyz')).toBe(`token ${MASK} and password ${MASK}, ${MASK} ${MASK}`);
    expect(m.mask('cd /home/agent && PATH=/usr/bin:/bin')).toBe('cd /home/agent && PATH=/usr/bin:/bin');
    expect(m.mask('tok-123456789tok-123456789')).toBe(`${MASK}${MASK}`);
  });

  it('masks the longest secret first, so one containing another is masked whole', () => {
    const m = new Masker(['abcdef', 'abcdef-ghijkl']);
    expect(m.mask('x abcdef-ghijkl y abcdef z')).toBe(`x ${MASK} y ${MASK} z`);
    expect(new Masker(['abcdef-ghijkl', 'abcdef']).mask('abcdef-ghijkl')).toBe(MASK);
  });

  it('masks the Basic-auth base64 form of user:secret', () => {
    const m = Masker.fromEnv({ GITEA_TOKEN: 'bot-token-0123456789' }).withBasicAuth('raibid-bot', 'bot-token-0123456789');
    const basic = Buffer.from('raibid-bot:bot-token-0123456789').toString('base64');
    expect(m.mask(`Authorization: Basic ${basic}`)).toBe(`Authorization: Basic ${MASK}`);
    expect(m.mask('token bot-token-0123456789')).toBe(`token ${MASK}`);
  });

  it('ignores values shorter than 6 characters and empty ones', () => {
    const m = Masker.fromEnv({ SHORT_TOKEN: 'abc12', EMPTY_SECRET: '', SIX_TOKEN: 'abc123' }, ['', 'xy']);
    expect(m.mask('abc12 xy abc123')).toBe(`abc12 xy ${MASK}`);
  });
});

describe('buildctlCommand', () => {
  const SHA = 'a'.repeat(40);
  const build: ImageBuild = {
    registryHost: 'gitea.example.lan:3000',
    repo: 'Acme/Widget',
    sha: SHA,
    branch: 'feature/x',
    dockerfile: 'docker/Dockerfile.ci',
    context: '.',
    push: true,
    cacheImport: 'type=registry,ref={image}:buildcache',
    cacheExport: 'type=registry,ref={image}:buildcache,mode=max,image-manifest=true',
    insecure: true,
  };
  /** The argv a shell makes of the command line (what buildctl receives). */
  const argv = (command: string): string[] => execFileSync('sh', ['-c', `printf '%s\\0' ${command}`], { encoding: 'utf8' }).split('\0').slice(0, -1);

  it('builds and pushes with the registry cache to an insecure registry: the exact argv', () => {
    const { command, refs } = buildctlCommand(build, '/tmp/job/metadata.json');
    const image = 'gitea.example.lan:3000/acme/widget';
    expect(refs).toEqual([`${image}:${SHA}`, `${image}:feature-x`]);
    expect(argv(command)).toEqual([
      'buildctl', 'build',
      '--frontend', 'dockerfile.v0',
      '--local', 'context=.',
      '--local', 'dockerfile=docker',
      '--opt', 'filename=Dockerfile.ci',
      '--opt', `label:org.opencontainers.image.revision=${SHA}`,
      '--output', `type=image,"name=${image}:${SHA},${image}:feature-x",push=true,registry.insecure=true`,
      '--metadata-file', '/tmp/job/metadata.json',
      '--import-cache', `type=registry,ref=${image}:buildcache`,
      '--export-cache', `type=registry,ref=${image}:buildcache,mode=max,image-manifest=true`,
    ]);
  });

  it('a build without push exports no cache; a secure registry gets no insecure flag', () => {
    const { command } = buildctlCommand({ ...build, push: false, insecure: false, branch: undefined, dockerfile: 'Dockerfile', context: 'app' }, '/m.json');
    const a = argv(command);
    expect(a).toContain(`type=image,"name=gitea.example.lan:3000/acme/widget:${SHA}",push=false`);
    expect(a).toEqual(expect.arrayContaining(['context=app', 'dockerfile=app', 'filename=Dockerfile', '--import-cache']));
    expect(a).not.toContain('--export-cache');
    expect(a.join(' ')).not.toContain('registry.insecure');
  });

  it('quotes every argument for the shell', () => {
    const { command } = buildctlCommand({ ...build, context: "it's here", cacheImport: undefined, cacheExport: undefined }, '/tmp/meta $HOME.json');
    const a = argv(command);
    expect(a).toContain("context=it's here");
    expect(a).toContain('/tmp/meta $HOME.json');
    expect(a).not.toContain('--import-cache');
  });
});

describe('branchTag', () => {
  it('turns a branch into a valid tag', () => {
    expect(branchTag('main')).toBe('main');
    expect(branchTag('feature/x')).toBe('feature-x');
    expect(branchTag('fix/issue#12 (urgent)')).toBe('fix-issue-12--urgent-');
    expect(branchTag('.hidden')).toBe('hidden');
    expect(branchTag('-dash')).toBe('dash');
    expect(branchTag('v1.2_rc')).toBe('v1.2_rc');
    expect(branchTag('x'.repeat(300))).toBe('x'.repeat(128));
    for (const b of ['main', 'feature/x', 'fix/issue#12 (urgent)', 'ünïcode/ß', 'a/b/c', '_x']) expect(branchTag(b)).toMatch(/^\w[\w.-]{0,127}$/);
  });

  it('never yields latest, and nothing for what cannot be a tag', () => {
    expect(branchTag('latest')).toBeUndefined();
    expect(branchTag('.latest')).toBeUndefined();
    expect(branchTag('-latest')).toBeUndefined();
    expect(branchTag('...')).toBeUndefined();
    expect(branchTag('')).toBeUndefined();
    expect(branchTag(undefined)).toBeUndefined();
  });
});

describe('commitStatus', () => {
  // A record as the store reads it back from its hash.
  const base: JobRecord = parseRecord({
    id: '0m1abcdefxyz123',
    repo: 'acme/widget',
    cloneUrl: 'http://gitea.example.lan:3000/acme/widget.git',
    event: 'push',
    ref: 'refs/heads/main',
    sha: 'b'.repeat(40),
    pool: 'rust',
    stream: 'ci-jobs',
    status: 'queued',
    attempt: '1',
    createdAt: '1700000000000',
  })!;
  const at = (status: JobStatus, more: Partial<JobRecord> = {}): JobRecord => ({ ...base, status, ...more });
  const PUBLIC = 'http://ci.example.lan/';
  const url = `http://ci.example.lan/api/v1/jobs/${base.id}/logs`;

  it.each<[string, JobRecord, 'pending' | 'success' | 'failure' | 'error', string]>([
    ['queued', at('queued'), 'pending', 'queued on rust'],
    ['queued, attempt 2', at('queued', { attempt: 2, reason: 'the agent was lost' }), 'pending', 'queued again (attempt 2): the agent was lost'],
    ['queued, attempt 2 without a reason', at('queued', { attempt: 2 }), 'pending', 'queued again (attempt 2)'],
    ['running', at('running', { agent: 'agent-rust-0' }), 'pending', 'running on agent-rust-0'],
    ['running, no agent yet', at('running'), 'pending', 'running on an agent'],
    ['success', at('success', { startedAt: 1_000, finishedAt: 43_400 }), 'success', 'passed in 42s'],
    ['success without times', at('success'), 'success', 'passed'],
    ['failure at a step', at('failure', { steps: [{ name: 'fmt', status: 'success', exitCode: 0, durationMs: 1 }, { name: 'test', status: 'failure', exitCode: 101, durationMs: 5 }, { name: 'audit', status: 'skipped', exitCode: null, durationMs: 0 }] }), 'failure', 'failed at test (exit 101)'],
    ['failure by a step timeout', at('failure', { steps: [{ name: 'build', status: 'timeout', exitCode: null, durationMs: 600_000, reason: 'timed out after 10m' }] }), 'failure', 'failed at build: timed out after 10m'],
    ['failure without a failed step', at('failure', { reason: 'checkout failed' }), 'failure', 'failed: checkout failed'],
    ['cancelled', at('cancelled', { reason: 'cancelled by admin' }), 'failure', 'cancelled by admin'],
    ['cancelled without a reason', at('cancelled'), 'failure', 'cancelled'],
    ['dead', at('dead', { attempt: 3, reason: 'the agent was lost' }), 'error', 'gave up after 3 attempts: the agent was lost'],
    ['dead without a reason', at('dead', { attempt: 3 }), 'error', 'gave up after 3 attempts: the agent was lost'],
    ['error', at('error', { reason: 'invalid .raibid.yaml' }), 'error', 'invalid .raibid.yaml'],
  ])('%s', (_name, record, state, description) => {
    expect(commitStatus(record, PUBLIC)).toEqual({ context: 'raibid-ci/rust', targetUrl: url, state, description });
  });

  it('links to the job log under the public URL, with or without a trailing slash or a path', () => {
    expect(commitStatus(base, 'http://ci.example.lan').targetUrl).toBe(url);
    expect(commitStatus(base, 'https://example.lan/ci').targetUrl).toBe(`https://example.lan/ci/api/v1/jobs/${base.id}/logs`);
    expect(commitStatus({ ...base, pool: 'docs' }, PUBLIC).context).toBe('raibid-ci/docs');
  });
});

describe('verifySignature', () => {
  const SECRET = 'webhook-secret-9a8b7c6d5e4f3a2b';
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const good = createHmac('sha256', SECRET).update(body).digest('hex');

  it('accepts the HMAC-SHA256 of the body, in either case', () => {
    expect(verifySignature(SECRET, body, good)).toBe(true);
    expect(verifySignature(SECRET, body, good.toUpperCase())).toBe(true);
  });

  it('refuses a wrong, missing, non-hex or wrong-length signature without throwing', () => {
    const cases: (string | undefined)[] = [
      createHmac('sha256', 'another-secret-entirely').update(body).digest('hex'),
      createHmac('sha256', SECRET).update(Buffer.concat([body, Buffer.from(' ')])).digest('hex'),
      `${good.slice(0, -1)}${good.at(-1) === '0' ? '1' : '0'}`,
      undefined,
      '',
      'z'.repeat(64),
      `${good.slice(0, 62)}zz`,
      good.slice(0, 62),
      `${good}00`,
      good.slice(0, 63),
      `sha256=${good}`,
      ` ${good}`,
    ];
    for (const sig of cases) expect(() => verifySignature(SECRET, body, sig), String(sig)).not.toThrow();
    for (const sig of cases) expect(verifySignature(SECRET, body, sig), String(sig)).toBe(false);
  });
});

describe('readDelivery', () => {
  const BASE = 'http://gitea.example.lan:3000';
  const repo = { owner: { login: 'acme' }, name: 'widget' };
  const SHA1 = '1'.repeat(40);
  const SHA2 = '2'.repeat(40);
  const push = (ref: string, opts: { after?: string; message?: string } = {}) => {
    const after = opts.after ?? SHA2;
    const commits = after === ZERO_SHA ? [] : [{ id: after, message: opts.message ?? 'Add things\n\nWith a body.' }];
    return pushPayload({ baseUrl: BASE, repo, ref, before: SHA1, after, commits, pusher: { login: 'alice' } });
  };
  const pr = (action: PullRequestAction) =>
    pullRequestPayload({
      baseUrl: BASE,
      action,
      number: 7,
      title: 'Make it faster',
      repo,
      base: { ref: 'main', sha: SHA1 },
      head: { ref: 'feature/x', sha: SHA2 },
      sender: { login: 'bob' },
      ...(action === 'synchronized' ? { before: SHA1, after: SHA2 } : {}),
    });

  it('a push to a branch is a job for that branch', () => {
    expect(readDelivery('push', push('refs/heads/feature/x'), { tagPushes: false })).toEqual({
      kind: 'job',
      event: 'push',
      repo: 'acme/widget',
      owner: 'acme',
      cloneUrl: `${BASE}/acme/widget.git`,
      ref: 'refs/heads/feature/x',
      branch: 'feature/x',
      sha: SHA2,
      title: 'Add things',
      actor: 'alice',
    });
  });

  it('a tag push runs only with tagPushes', () => {
    expect(readDelivery('push', push('refs/tags/v1.0'), { tagPushes: false })).toEqual({ kind: 'skip', reason: 'tag pushes do not run CI (jobs.tagPushes is false): refs/tags/v1.0' });
    const job = readDelivery('push', push('refs/tags/v1.0'), { tagPushes: true });
    expect(job).toMatchObject({ kind: 'job', ref: 'refs/tags/v1.0', sha: SHA2 });
    expect(job.kind === 'job' && job.branch).toBeUndefined();
  });

  it('a deletion (zero SHA) is skipped', () => {
    expect(readDelivery('push', push('refs/heads/gone', { after: ZERO_SHA }), { tagPushes: true })).toEqual({ kind: 'skip', reason: 'refs/heads/gone was deleted' });
  });

  it('[skip ci] and [ci skip] in the head commit skip, in any case', () => {
    for (const message of ['Docs [skip ci]', '[ci skip] typo', 'Fix\n\nbody [SKIP CI]']) expect(readDelivery('push', push('refs/heads/main', { message }), { tagPushes: false })).toMatchObject({ kind: 'skip', reason: expect.stringContaining('skip CI') });
    expect(readDelivery('push', push('refs/heads/main', { message: 'skip ci is not in brackets' }), { tagPushes: false })).toMatchObject({ kind: 'job' });
  });

  it('refs other than branches and tags are skipped', () => {
    expect(readDelivery('push', push('refs/notes/x'), { tagPushes: true })).toEqual({ kind: 'skip', reason: 'refs/notes/x is neither a branch nor a tag' });
  });

  it.each<[PullRequestAction, boolean]>([['opened', true], ['synchronized', true], ['reopened', true], ['closed', false]])('pull request %s → job: %s', (action, runs) => {
    const r = readDelivery('pull_request', pr(action), { tagPushes: false });
    if (runs) expect(r).toEqual({ kind: 'job', event: 'pull_request', repo: 'acme/widget', owner: 'acme', cloneUrl: `${BASE}/acme/widget.git`, ref: 'refs/pull/7/head', branch: 'main', sha: SHA2, title: 'Make it faster', actor: 'bob', pr: '7' });
    else expect(r).toEqual({ kind: 'skip', reason: `pull request action "${action}" does not run CI (only opened, synchronized, reopened)` });
  });

  it('other pull request actions are skipped', () => {
    for (const action of ['edited', 'label_updated', 'assigned']) expect(readDelivery('pull_request', { ...pr('opened'), action }, { tagPushes: false })).toMatchObject({ kind: 'skip' });
  });

  it('a payload missing fields is a PayloadError naming each field', () => {
    const problemsOf = (event: 'push' | 'pull_request', payload: unknown): readonly string[] => {
      try {
        readDelivery(event, payload, { tagPushes: true });
      } catch (e) {
        expect(e).toBeInstanceOf(PayloadError);
        return (e as PayloadError).problems;
      }
      throw new Error('no PayloadError');
    };
    const fields = (problems: readonly string[]) => problems.map((p) => p.split(':')[0]).sort();
    expect(fields(problemsOf('push', {}))).toEqual(['after', 'ref', 'repository']);
    expect(fields(problemsOf('push', { ref: 'main', after: 'abc', repository: { full_name: 'widget' } }))).toEqual(['after', 'ref', 'repository.clone_url', 'repository.full_name']);
    expect(fields(problemsOf('pull_request', {}))).toEqual(['action', 'number', 'pull_request', 'repository']);
    const noHead = { ...pr('opened'), pull_request: { title: 'x' } };
    expect(fields(problemsOf('pull_request', noHead))).toEqual(['pull_request.head']);
    expect(problemsOf('push', null)).toEqual([expect.stringMatching(/^\(body\): /)]);
    const e = (() => {
      try {
        readDelivery('push', {}, { tagPushes: false });
      } catch (err) {
        return err as PayloadError;
      }
    })();
    for (const f of ['ref', 'after', 'repository']) expect(e?.message).toContain(f);
  });
});
