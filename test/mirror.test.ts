/**
 * The mirror component (src/mirror/mirror.ts): the CronJob that runs `raibid mirror sync`, its ConfigMap
 * (the contract the runtime reads), its NetworkPolicy and Secrets; the `mirrors` config section and its
 * validation; the matching rules the API and the reconciler share (src/mirror/match.ts).
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiSettingsSchema } from '../src/api/contract.js';
import { cronProblem } from '../src/config/sections/mirrors.js';
import { giteaSettings } from '../src/gitea/gitea-settings.js';
import { goDuration, goDurationSeconds, mirrorSettingsSchema } from '../src/mirror/contract.js';
import { githubNameOf, skipReason, sourceOfGithub, sourceOfTarget } from '../src/mirror/match.js';
import { SECRETS } from '../src/secrets/catalog.js';
import { config, findObject, objectsUnder, podSpecOf, synthError } from './helpers.js';
import { imageTagSerializer } from './image-tags.js';

expect.addSnapshotSerializer(imageTagSerializer);

const SOURCES = [
  'mirrors:',
  '  interval: 2h',
  '  sources:',
  '    - from: github.com/rust-lang/book',
  '      name: rust-book',
  '      ci: true',
  '    - from: github.com/tokio-rs',
  '      owner: tokio',
  '      include: ["^tokio"]',
  '      exclude: ["-deprecated$"]',
  '      skipForks: false',
  '      interval: 30m',
  '      lfs: true',
  '',
].join('\n');

const objs = objectsUnder('apps/mirror/');
const cronJob = findObject(objs, 'CronJob', 'raibid-mirror', 'ci');
const pod = podSpecOf(cronJob);
const container = pod.containers[0];
const env = (name: string) => container.env.find((e: { name: string }) => e.name === name);
const settingsOf = (yaml = '') => mirrorSettingsSchema.parse(parse(findObject(objectsUnder('apps/mirror/', yaml), 'ConfigMap', 'raibid-mirror').data['mirrors.yaml']));

describe('mirror CronJob', () => {
  it('runs `raibid mirror sync` daily from the API image, one run at a time', () => {
    expect(cronJob.spec).toMatchObject({ schedule: '17 4 * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600, successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 3 });
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 10_800 });
    expect(container.args).toEqual(['mirror', 'sync']);
    expect(container.image).toBe(config().api.image);
    expect(pod.priorityClassName).toBe('raibid-agents');
  });

  it('is suspended while mirrors.sources is empty, and runs once there are sources', () => {
    expect(cronJob.spec.suspend).toBe(true);
    expect(findObject(objectsUnder('apps/mirror/', SOURCES), 'CronJob', 'raibid-mirror').spec.suspend).toBe(false);
  });

  it('follows mirrors.schedule, mirrors.image and mirrors.resources', () => {
    const custom = findObject(objectsUnder('apps/mirror/', 'mirrors:\n  schedule: "*/30 1-5 * * mon-fri"\n  image: registry.lan/raibid:1.2.3\n  resources:\n    memory: 200Mi\n    memoryLimit: 1Gi\n'), 'CronJob', 'raibid-mirror');
    expect(custom.spec.schedule).toBe('*/30 1-5 * * mon-fri');
    expect(podSpecOf(custom).containers[0]).toMatchObject({ image: 'registry.lan/raibid:1.2.3', resources: { requests: { cpu: '50m', memory: '200Mi' }, limits: { memory: '1024Mi' } } });
  });

  it('gets Gitea as the bot with its own mirror token, and the optional GitHub token, by reference', () => {
    expect(env('GITEA_URL').value).toBe('http://gitea-http.infrastructure.svc.cluster.local:3000');
    expect(env('GITEA_TOKEN').valueFrom).toEqual({ secretKeyRef: { name: 'gitea-mirror-token', key: 'token' } });
    expect(env('GITHUB_TOKEN').valueFrom).toEqual({ secretKeyRef: { name: 'github-mirror', key: 'token' } });
    expect(env('RAIBID_MIRROR_CONFIG').value).toBe('/etc/raibid-mirror/mirrors.yaml');
    expect(SECRETS.find((s) => s.name === 'gitea-mirror-token')?.keys.token).toEqual({ from: 'gitea-token', user: 'bot', scopes: ['write:repository', 'write:organization'] });
    expect(SECRETS.find((s) => s.name === 'github-mirror')?.keys.token).toEqual({ from: 'stack', key: 'githubToken', optional: true });
    // Only the mirror job holds the token that may create organisations.
    const holders = [...objectsUnder('apps/'), ...objectsUnder('infrastructure/')].filter((o) => JSON.stringify(o).includes('"gitea-mirror-token"'));
    expect(holders.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['CronJob/raibid-mirror']);
  });

  it('runs hardened: non-root, read-only root, no escalation, no capabilities, seccomp, no API token', () => {
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(findObject(objs, 'ServiceAccount', 'raibid-mirror', 'ci').automountServiceAccountToken).toBe(false);
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('may reach Gitea and public addresses on 443, nothing else, and takes no connections', () => {
    const np = findObject(objs, 'NetworkPolicy', 'raibid-mirror', 'ci');
    expect(np.spec.policyTypes).toEqual(['Egress']);
    expect(np.spec.egress).toHaveLength(2);
    expect(np.spec.egress[0]).toEqual({ ports: [{ protocol: 'TCP', port: 3000 }], to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infrastructure' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitea', 'app.kubernetes.io/part-of': 'raibid-ci' } } }] });
    expect(np.spec.egress[1].ports).toEqual([{ protocol: 'TCP', port: 443 }]);
    // Public addresses only: the LAN ranges (which hold the pod and service ranges) are excluded.
    expect(np.spec.egress[1].to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }]);
  });

  it('matches the snapshot', () => {
    expect(objectsUnder('apps/mirror/', SOURCES)).toMatchSnapshot();
  });
});

describe('mirror settings (the ConfigMap the runtime reads, and the API\'s copy)', () => {
  it('resolves every source with the section defaults and its own overrides', () => {
    const s = settingsOf(SOURCES);
    expect(s).toMatchObject({ githubApiUrl: 'https://api.github.com', githubUrl: 'https://github.com', concurrency: 2, schedule: '17 4 * * *' });
    expect(s.sources).toEqual([
      { key: 'mirrors.sources[0]', kind: 'repository', githubOwner: 'rust-lang', githubRepo: 'book', owner: 'mirrors', name: 'rust-book', include: [], exclude: [], skipArchived: false, skipForks: false, lfs: false, wiki: false, intervalSeconds: 7200, ci: true },
      { key: 'mirrors.sources[1]', kind: 'owner', githubOwner: 'tokio-rs', owner: 'tokio', include: ['^tokio'], exclude: ['-deprecated$'], skipArchived: true, skipForks: false, lfs: true, wiki: false, intervalSeconds: 1800, ci: false },
    ]);
  });

  it('gives the API the same list, and the GitHub webhook secret by reference', () => {
    const cm = findObject(objectsUnder('apps/api/', SOURCES), 'ConfigMap', 'raibid-api');
    expect(apiSettingsSchema.parse(parse(cm.data['config.yaml'])).mirrors).toEqual(settingsOf(SOURCES));
    const api = podSpecOf(findObject(objectsUnder('apps/api/'), 'Deployment', 'raibid-api')).containers[0];
    expect(api.env.find((e: { name: string }) => e.name === 'GITHUB_WEBHOOK_SECRET').valueFrom).toEqual({ secretKeyRef: { name: 'github-webhook-hmac', key: 'secret' } });
    expect(SECRETS.find((s) => s.name === 'github-webhook-hmac')?.keys.secret).toMatchObject({ from: 'random' });
  });

  it('lets the bot alone create organisations in Gitea, and migrations come from GitHub only', () => {
    const g = giteaSettings(config());
    expect(g.service.DEFAULT_ALLOW_CREATE_ORGANIZATION).toBe('false');
    expect(g.admin.DISABLE_REGULAR_ORG_CREATION).toBe('false');
    expect(g.migrations).toEqual({ ALLOWED_DOMAINS: 'github.com', ALLOW_LOCALNETWORKS: 'false' });
  });
});

describe('mirrors config validation', () => {
  it('fails on an unknown key of a source, listing the allowed keys', () => {
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a/b\n      bogus: 1\n')).toContain('raibid.yaml: mirrors.sources[0].bogus: unknown key (allowed here: from, owner, name, include, exclude, skipArchived, skipForks, lfs, wiki, interval, ci)');
  });

  it('fails on a regular expression that does not compile, naming it', () => {
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a\n      include: ["(unclosed"]\n')).toContain('raibid.yaml: mirrors.sources[0].include[0]: expected a regular expression (JavaScript syntax), but it does not compile (Unterminated group), got "(unclosed"');
  });

  it('fails on intervals under 10 minutes, in the section and in a source', () => {
    const message = synthError('mirrors:\n  interval: 5m\n  sources:\n    - from: github.com/a/b\n      interval: 9m\n');
    expect(message).toContain('raibid.yaml: mirrors.sources[0].interval: expected an interval of at least 10m (Gitea\'s shortest mirror interval), such as "1h", got "9m"');
    expect(message).toContain('raibid.yaml: mirrors.interval: expected an interval of at least 10m (Gitea\'s shortest mirror interval), such as "1h", got "5m"');
  });

  it('fails on two sources with one target, and on a source listed twice', () => {
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a/b\n    - from: github.com/c/x\n      name: b\n')).toContain('raibid.yaml: mirrors.sources[1].name: the mirror mirrors/b is also the target of mirrors.sources[0]; give one of them another name or owner');
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a\n    - from: github.com/A\n')).toContain('raibid.yaml: mirrors.sources[1].from: duplicate source "github.com/A" (also mirrors.sources[0]); list each source once');
  });

  it('fails on an invalid cron schedule', () => {
    expect(synthError('mirrors:\n  schedule: "0 25 * * *"\n')).toContain('raibid.yaml: mirrors.schedule: expected a 5-field cron schedule such as "17 4 * * *" (hour: "25" is outside 0–23), got "0 25 * * *"');
    expect(synthError('mirrors:\n  schedule: "0 3 * *"\n')).toContain('mirrors.schedule: expected a 5-field cron schedule such as "17 4 * * *" (it has 4 fields, not 5: minute hour day-of-month month day-of-week), got "0 3 * *"');
  });

  it('fails on a source that is not on GitHub, and on keys that belong to the other kind of source', () => {
    expect(synthError('mirrors:\n  sources:\n    - from: gitlab.com/a/b\n')).toContain('raibid.yaml: mirrors.sources[0].from: expected github.com/<owner> (an organisation or user) or github.com/<owner>/<repository>, got "gitlab.com/a/b"');
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a\n      name: x\n')).toContain('raibid.yaml: mirrors.sources[0].name: only one repository (github.com/<owner>/<repository>) has a name; the repositories of "github.com/a" keep their GitHub names');
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a/b\n      include: ["x"]\n')).toContain('raibid.yaml: mirrors.sources[0].include: only an organisation or user (github.com/<owner>) has include; "github.com/a/b" is one repository');
  });

  it('fails on a target organisation that is the GitOps organisation or a Gitea user', () => {
    expect(synthError('mirrors:\n  organization: raibid\n')).toContain('raibid.yaml: mirrors.organization: "raibid" is flux.organization, which holds the GitOps repository; mirror into an organisation of its own');
    expect(synthError('mirrors:\n  sources:\n    - from: github.com/a/b\n      owner: raibid-bot\n')).toContain('raibid.yaml: mirrors.sources[0].owner: "raibid-bot" is a Gitea user (gitea.bot.username), not an organisation; mirrors go into organisations');
  });

  it('fails on a memory limit below the request of the mirror job', () => {
    expect(synthError('mirrors:\n  resources:\n    memory: 512Mi\n    memoryLimit: 256Mi\n')).toContain('raibid.yaml: mirrors.resources.memoryLimit: "256Mi" is below the memory request "512Mi"; set it ≥ memory');
  });

  it('accepts the cron forms Kubernetes reads', () => {
    for (const ok of ['17 4 * * *', '*/15 * * * *', '0 0-6/2 1,15 * mon-fri', '0 0 1 jan-jun 0', '59 23 31 12 7']) expect(cronProblem(ok), ok).toBeUndefined();
    for (const bad of ['60 * * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '*/0 * * * *', '5-1 * * * *', '@daily']) expect(cronProblem(bad), bad).toBeDefined();
  });
});

describe('mirror matching (shared by the reconciler and the API)', () => {
  const settings = settingsOf(SOURCES);

  it('maps a GitHub repository to its source and skips by filter', () => {
    expect(sourceOfGithub(settings, 'Rust-Lang/Book')?.key).toBe('mirrors.sources[0]');
    expect(sourceOfGithub(settings, 'tokio-rs/tokio-util')?.key).toBe('mirrors.sources[1]');
    expect(sourceOfGithub(settings, 'tokio-rs/mio')).toBeUndefined();
    expect(sourceOfGithub(settings, 'tokio-rs/tokio-deprecated')).toBeUndefined();
    const org = settings.sources[1];
    expect(skipReason(org, { name: 'tokio', archived: true })).toBe('archived (skipArchived)');
    expect(skipReason(org, { name: 'tokio', fork: true })).toBeUndefined();
    expect(skipReason(org, { name: 'loom' })).toBe('not matched by include (^tokio)');
  });

  it('maps a Gitea repository back to its source, checking where an owner\'s mirror pulls from', () => {
    expect(sourceOfTarget(settings, 'mirrors/rust-book')?.key).toBe('mirrors.sources[0]');
    expect(sourceOfTarget(settings, 'tokio/tokio', 'https://github.com/tokio-rs/tokio.git')?.key).toBe('mirrors.sources[1]');
    expect(sourceOfTarget(settings, 'tokio/tokio', 'https://github.com/someone-else/tokio.git')).toBeUndefined();
    expect(sourceOfTarget(settings, 'tokio/mio')).toBeUndefined();
    expect(githubNameOf('https://github.com/a/b.git', 'https://github.com')).toBe('a/b');
    expect(githubNameOf('https://gitlab.com/a/b.git', 'https://github.com')).toBeUndefined();
  });

  it('writes and reads mirror intervals the way Gitea does (Go durations)', () => {
    expect([goDuration(600), goDuration(3600), goDuration(5400), goDuration(86_400)]).toEqual(['10m0s', '1h0m0s', '1h30m0s', '24h0m0s']);
    expect([goDurationSeconds('8h0m0s'), goDurationSeconds('10m'), goDurationSeconds('1.5h'), goDurationSeconds('soon')]).toEqual([28_800, 600, 5400, undefined]);
  });
});
