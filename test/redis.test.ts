import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { Redis } from '../src/redis/redis.js';
import { REDIS_AGENT_USER, REDIS_API_USER, REDIS_KEDA_USER, REDIS_USERS } from '../src/redis/acl.js';
import { SECRETS } from '../src/secrets/catalog.js';
import { config, findObject, objectsUnder, podSpecOf, synthFiles, synthError } from './helpers.js';

const dir = 'infrastructure/configs/redis/';
const objs = objectsUnder(dir);
const sts = findObject(objs, 'StatefulSet', 'redis', 'infrastructure');
const pod = podSpecOf(sts);
const redis = pod.containers[0];
const init = pod.initContainers[0];
const files = (yaml = '') => findObject(objectsUnder(dir, yaml), 'ConfigMap', 'redis-config', 'infrastructure').data as Record<string, string>;
const conf = (yaml = '') => files(yaml)['redis.conf'].split('\n');
const component = (yaml = '') => buildApp(config(yaml)).node.findChild('redis') as Redis;

describe('Redis', () => {
  it('runs one replica of the configured official image (≥ 7.2)', () => {
    expect(redis.image).toBe('docker.io/library/redis:8.10.1-alpine3.23');
    expect(init.image).toBe(redis.image);
    expect(sts.spec.replicas).toBe(1);
  });

  it('keeps its data on the retained 10 GiB claim', () => {
    const claim = findObject(objs, 'PersistentVolumeClaim', 'redis-data', 'infrastructure');
    expect(claim.spec.resources.requests.storage).toBe('10Gi');
    expect(pod.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'redis-data', readOnly: false } });
    expect(redis.volumeMounts).toContainEqual({ mountPath: '/data', name: 'data' });
  });

  it('is reached through the redis Service on 6379', () => {
    const svc = findObject(objs, 'Service', 'redis', 'infrastructure');
    expect(svc.spec.ports).toEqual([{ name: 'redis', port: 6379, targetPort: 6379 }]);
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'redis', 'app.kubernetes.io/part-of': 'raibid-ci' });
  });

  it('persists every write: AOF fsynced every second plus RDB snapshots', () => {
    expect(conf()).toEqual(expect.arrayContaining(['appendonly yes', 'appendfsync everysec', 'save 300 10', 'dir /data']));
  });

  it('caps memory at 75 % of the memory limit and never evicts queued jobs', () => {
    expect(conf()).toEqual(expect.arrayContaining([`maxmemory ${0.75 * 2 * 2 ** 30}`, 'maxmemory-policy noeviction']));
    expect(redis.resources.limits.memory).toBe('2048Mi');
  });

  it('follows redis.maxmemoryPercent and the memory limit', () => {
    expect(conf('redis:\n  maxmemoryPercent: 50\n  resources:\n    memory: 4Gi\n    memoryLimit: 4Gi\n')).toContain(`maxmemory ${2 * 2 ** 30}`);
    expect(component('redis:\n  maxmemoryPercent: 50\n  resources:\n    memory: 4Gi\n    memoryLimit: 4Gi\n').maxmemory).toBe(2 * 2 ** 30);
  });

  it('authenticates only through the ACL file the init container builds', () => {
    expect(conf()).toContain('aclfile /run/redis/users.acl');
    expect(conf().some((l) => /^requirepass/.test(l))).toBe(false);
    expect(init.command).toEqual(['sh', '/etc/redis/build-acl.sh']);
    expect(files()['build-acl.sh']).toContain("echo 'user default off resetpass ~* &* +@all'");
  });

  it('mounts the redis-users Secret in the init container only', () => {
    expect(pod.volumes).toContainEqual({ name: 'users', secret: { secretName: 'redis-users', defaultMode: 0o440 } });
    expect(init.volumeMounts).toContainEqual({ mountPath: '/etc/redis-users', name: 'users', readOnly: true });
    expect(redis.volumeMounts.some((m: { name: string }) => m.name === 'users')).toBe(false);
    expect(pod.volumes).toContainEqual({ name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
  });

  it('has one ACL user per role, named as the catalogue’s Secrets say', () => {
    expect(REDIS_USERS.map((u) => u.name)).toEqual([REDIS_API_USER, REDIS_AGENT_USER, REDIS_KEDA_USER, 'raibid-init']);
    const c = config();
    for (const [secret, user] of [['redis-api', REDIS_API_USER], ['redis-agent', REDIS_AGENT_USER], ['redis-keda', REDIS_KEDA_USER]] as const) {
      const spec = SECRETS.find((s) => s.name === secret)!;
      const username = spec.keys.username;
      expect(username.from === 'config' && username.value(c), secret).toBe(user);
    }
    const passwordKeys = Object.keys(SECRETS.find((s) => s.name === 'redis-users')!.keys);
    expect(REDIS_USERS.flatMap((u) => (u.secretKey ? [u.secretKey] : []))).toEqual(passwordKeys);
  });

  it('limits each user to the pool streams', () => {
    const script = files('agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: docs\n      stream: ci-docs\n')['build-acl.sh'];
    const user = (name: string) => script.split('\n').find((l) => l.includes(`echo "user ${name} `))!;
    expect(user('raibid-api')).toContain(' resetkeys ~raibid:* ~ci-jobs ~ci-jobs:dead ~ci-docs ~ci-docs:dead resetchannels &raibid:cancel &raibid:events -@all +ping ');
    // Overwriting and deleting commands only inside the selector on raibid:* keys.
    expect(user('raibid-api')).toMatch(/ \(~raibid:\* \+hset \+set \+del \+expire [^)]*\)\$has_waitaof\$has_xackdel"$/);
    expect(user('raibid-agent')).toMatch(/ \(~raibid:\* [^)]*\+xadd\)\$has_xackdel"$/);
    for (const u of ['raibid-api', 'raibid-agent']) expect(user(u).replace(/\(.*\)/, '')).not.toMatch(/\+(del|set|expire|hset|xtrim|keys|flushall) /);
    expect(script).toContain('resetkeys %R~ci-jobs %R~ci-docs resetchannels -@all +ping +info +xinfo|groups +xpending +xlen"');
  });

  it('creates every pool stream and group in a postStart hook, before it can be ready', () => {
    expect(redis.lifecycle).toEqual({ postStart: { exec: { command: ['sh', '/etc/redis/init-streams.sh'] } } });
    const script = files('agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n    - name: docs\n      group: docs-workers\n')['init-streams.sh'];
    expect(script.split('\n').filter((l) => l.startsWith('group '))).toEqual(["group 'ci-jobs' 'ci-workers'", "group 'ci-docs' 'docs-workers'"]);
    expect(script).toContain("XGROUP CREATE \"$1\" \"$2\" '$' MKSTREAM");
  });

  it('restarts when its configuration changes', () => {
    const hash = (yaml: string) => findObject(objectsUnder(dir, yaml), 'StatefulSet', 'redis').spec.template.metadata.annotations['raibid-ci/config-hash'];
    expect(hash('')).toMatch(/^[0-9a-f]{16}$/);
    expect(hash('agents:\n  pools:\n    - name: docs\n')).not.toBe(hash(''));
  });

  it('runs hardened as the image’s redis user', () => {
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true });
    for (const c of [redis, init]) {
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    }
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('redis');
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('probes its declared port', () => {
    expect(redis.ports).toEqual([{ containerPort: 6379, name: 'redis' }]);
    expect(redis.readinessProbe.tcpSocket).toEqual({ port: 6379 });
    expect(redis.livenessProbe.tcpSocket).toEqual({ port: 6379 });
  });

  it('requests what redis.resources says', () => {
    expect(redis.resources).toEqual({ requests: { cpu: '100m', memory: '2048Mi' }, limits: { memory: '2048Mi' } });
    expect(component().requests).toEqual({ cpuMillis: 100, memoryBytes: 2 * 2 ** 30 });
  });

  it('requests all the memory it may use, so it is never evicted for exceeding its request', () => {
    const c = config();
    expect(c.redis.resources.memory).toBe('2Gi');
    expect(c.redis.resources.memory).toBe(c.redis.resources.memoryLimit);
    expect(component().maxmemory).toBeLessThanOrEqual(2 * 2 ** 30);
  });

  it('runs in the platform PriorityClass, evicted after the agents', () => {
    expect(pod.priorityClassName).toBe('raibid-platform');
  });

  it('fails when maxmemory exceeds the memory request', () => {
    expect(synthError('redis:\n  resources:\n    memory: 512Mi\n')).toContain(
      'raibid.yaml: redis.resources.memory: "512Mi" is below maxmemory (1536Mi: redis.maxmemoryPercent 75 % of redis.resources.memoryLimit "2Gi"): a Redis holding more than it requests is evicted first under node memory pressure; set it to at least "1536Mi" (best: equal to the limit) or lower redis.maxmemoryPercent to at most 25',
    );
    expect(synthError('redis:\n  resources:\n    memory: 128Mi\n')).toMatch(/to at least "1536Mi" \(best: equal to the limit\)$/m);
    // Above maxmemory but below the limit: refused all the same, for the eviction order (scheduling.test.ts).
    expect(synthError('redis:\n  maxmemoryPercent: 25\n  resources:\n    memory: 512Mi\n')).toContain('redis.resources.memory: "512Mi" differs from redis.resources.memoryLimit "2Gi"');
  });

  it('accepts clients from the ci namespace and the KEDA operator only', () => {
    const policy = findObject(objs, 'NetworkPolicy', 'redis', 'infrastructure').spec;
    expect(policy.policyTypes).toEqual(['Ingress']);
    expect(policy.ingress).toEqual([
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'keda-operator' } } },
        ],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ]);
  });

  it('holds no Secret and no password', () => {
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(JSON.stringify(objs)).not.toMatch(/requirepass|\s>[A-Za-z0-9]{8,}/);
  });

  it('fails on a storage size that is not a whole number of GiB', () => {
    expect(synthError('redis:\n  storage: 0.5Gi\n')).toContain('raibid.yaml: redis.storage: expected a whole number of GiB, at least 1, such as "10Gi" or "1Ti", got "0.5Gi"');
  });

  it('fails on a Redis older than 7.2', () => {
    expect(synthError('redis:\n  image: docker.io/library/redis:7.0.15-alpine\n')).toContain(
      'raibid.yaml: redis.image: "docker.io/library/redis:7.0.15-alpine" is Redis 7.0; KEDA\'s lag-based scaling needs Redis 7.2 or newer, such as "docker.io/library/redis:8.10.1-alpine3.23"',
    );
    expect(() => synthFiles('redis:\n  image: docker.io/library/redis:7.2.5\n')).not.toThrow();
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});
