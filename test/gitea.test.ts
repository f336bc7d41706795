import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { Gitea } from '../src/gitea/gitea.js';
import { adminScript } from '../src/gitea/admin-script.js';
import { apiWebhookUrl, giteaPublicUrl } from '../src/endpoints.js';
import { config, findObject, objectsUnder, OWN_IMAGES_WITHOUT_BUILDKIT, podSpecOf, synthFiles, synthError } from './helpers.js';

const dir = 'infrastructure/configs/gitea/';
const objs = objectsUnder(dir);
const deployment = findObject(objs, 'Deployment', 'gitea', 'infrastructure');
const pod = podSpecOf(deployment);
const gitea = pod.containers[0];
const configure = pod.initContainers[0];
const postgresSts = findObject(objs, 'StatefulSet', 'gitea-postgres', 'infrastructure');
const postgres = podSpecOf(postgresSts).containers[0];
const env = (name: string, c = gitea) => c.env.find((e: { name: string }) => e.name === name)?.value;
const policy = (name: string) => findObject(objs, 'NetworkPolicy', name, 'infrastructure').spec;

describe('Gitea', () => {
  it('runs one replica of the pinned rootless image, replaced (not rolled) on update', () => {
    expect(gitea.image).toBe('docker.gitea.com/gitea:1.27.3-rootless');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('is locked down: install locked, no registration, sign-in to view', () => {
    expect(env('GITEA__security__INSTALL_LOCK')).toBe('true');
    expect(env('GITEA__service__DISABLE_REGISTRATION')).toBe('true');
    expect(env('GITEA__service__REQUIRE_SIGNIN_VIEW')).toBe('true');
  });

  it('serves the container registry at ROOT_URL = the public URL', () => {
    expect(env('GITEA__packages__ENABLED')).toBe('true');
    expect(env('GITEA__server__ROOT_URL')).toBe(giteaPublicUrl(config()));
    expect(env('GITEA__server__ROOT_URL')).toBe('http://gitea.dgx.local/');
  });

  it('delivers webhooks only to the API’s in-cluster host, never anywhere', () => {
    expect(env('GITEA__webhook__ALLOWED_HOST_LIST')).toBe('raibid-api.ci.svc.cluster.local');
    expect(new URL(apiWebhookUrl(config())).hostname).toBe('raibid-api.ci.svc.cluster.local');
    expect(env('GITEA__webhook__ALLOWED_HOST_LIST')).not.toMatch(/\*|external|private/);
  });

  it('reads its secrets from the mounted gitea-secrets Secret, never from values', () => {
    expect(env('GITEA__security__SECRET_KEY_URI')).toBe('file:/etc/gitea-secrets/secret-key');
    expect(env('GITEA__security__INTERNAL_TOKEN_URI')).toBe('file:/etc/gitea-secrets/internal-token');
    expect(env('GITEA__oauth2__JWT_SECRET_URI')).toBe('file:/etc/gitea-secrets/jwt-secret');
    expect(env('GITEA__server__LFS_JWT_SECRET_URI')).toBe('file:/etc/gitea-secrets/lfs-jwt-secret');
    expect(env('GITEA__database__PASSWD__FILE')).toBe('/etc/gitea-db/password');
    expect(pod.volumes).toContainEqual({ name: 'secrets', secret: { secretName: 'gitea-secrets', defaultMode: 0o440 } });
    expect(pod.volumes).toContainEqual({ name: 'database', secret: { secretName: 'gitea-postgres', defaultMode: 0o440 } });
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('talks to its own PostgreSQL', () => {
    expect(env('GITEA__database__DB_TYPE')).toBe('postgres');
    expect(env('GITEA__database__HOST')).toBe('gitea-postgres.infrastructure.svc.cluster.local:5432');
  });

  it('keeps data on the retained 100 GiB claim and app.ini in a writable emptyDir', () => {
    expect(findObject(objs, 'PersistentVolumeClaim', 'gitea-data').spec.resources.requests.storage).toBe('100Gi');
    expect(gitea.volumeMounts).toEqual(expect.arrayContaining([{ mountPath: '/var/lib/gitea', name: 'data' }, { mountPath: '/etc/gitea', name: 'config' }, { mountPath: '/tmp', name: 'tmp' }]));
    expect(pod.volumes).toContainEqual({ name: 'config', emptyDir: {} });
  });

  it('follows gitea.storage', () => {
    expect(findObject(objectsUnder(dir, 'gitea:\n  storage: 250Gi\n'), 'PersistentVolumeClaim', 'gitea-data').spec.resources.requests.storage).toBe('250Gi');
  });

  it('creates the admin in an init container with the same configuration, mounting only the username of the gitea-admin Secret', () => {
    expect(configure.name).toBe('configure');
    expect(configure.args.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(configure.volumeMounts).toContainEqual({ mountPath: '/etc/gitea-admin', name: 'admin', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'admin', secret: { secretName: 'gitea-admin', defaultMode: 0o440, items: [{ key: 'username', path: 'username' }] } });
    expect(gitea.volumeMounts.some((m: { name: string }) => m.name === 'admin')).toBe(false);
    expect(configure.env.filter((e: { name: string }) => e.name.startsWith('GITEA__'))).toEqual(gitea.env);
    expect(env('GITEA_ADMIN_EMAIL', configure)).toBe('admin@dgx.local');
  });

  it('runs hardened as the image’s git user, without an API token or service links', () => {
    expect(pod.securityContext).toEqual({ runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true });
    for (const c of [gitea, configure]) {
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    }
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('gitea');
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('requests what gitea.resources says', () => {
    expect(gitea.resources).toEqual({ requests: { cpu: '250m', memory: '1536Mi' }, limits: { memory: '1536Mi' } });
  });

  it('is ready when /api/healthz passes and alive while its port answers', () => {
    expect(gitea.readinessProbe.httpGet).toEqual({ path: '/api/healthz', port: 3000, scheme: 'HTTP' });
    expect(gitea.livenessProbe.tcpSocket).toEqual({ port: 3000 });
    expect(gitea.ports).toEqual([{ containerPort: 3000, name: 'http' }, { containerPort: 2222, name: 'ssh' }]);
  });

  it('has in-cluster HTTP and SSH Services, and a LAN LoadBalancer clear of the node’s sshd', () => {
    const svc = (name: string) => findObject(objs, 'Service', name, 'infrastructure').spec;
    expect(svc('gitea-http')).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 3000, targetPort: 3000 }] });
    expect(svc('gitea-ssh')).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'ssh', port: 2222, targetPort: 2222 }] });
    expect(svc('gitea')).toMatchObject({
      type: 'LoadBalancer',
      ports: [
        { name: 'http', port: 80, targetPort: 3000 },
        { name: 'ssh', port: 2222, targetPort: 2222 },
      ],
    });
    for (const name of ['gitea-http', 'gitea-ssh', 'gitea']) expect(svc(name).selector).toEqual({ 'app.kubernetes.io/name': 'gitea', 'app.kubernetes.io/part-of': 'raibid-ci' });
    expect(env('GITEA__server__SSH_PORT')).toBe('2222');
  });

  it('accepts the LAN, the ci namespace, Flux’s source-controller, BuildKit and the image build Jobs', () => {
    const from = policy('gitea').ingress;
    expect(from[0].ports).toEqual([{ protocol: 'TCP', port: 3000 }, { protocol: 'TCP', port: 2222 }]);
    expect(from[0].from).toContainEqual({ ipBlock: { cidr: '192.168.0.0/16' } });
    expect(from[1]).toEqual({
      from: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'flux-system' } }, podSelector: { matchLabels: { app: 'source-controller' } } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'buildkit' } } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'images' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'image-build', 'app.kubernetes.io/part-of': 'raibid-ci' } } },
      ],
      ports: [{ protocol: 'TCP', port: 3000 }],
    });
    const noBuildkit = findObject(objectsUnder(dir, OWN_IMAGES_WITHOUT_BUILDKIT), 'NetworkPolicy', 'gitea').spec.ingress[1].from;
    expect(noBuildkit).toHaveLength(2);
  });

  it('accepts SSH from the ci namespace, where agents clone by ssh_url', () => {
    expect(policy('gitea').ingress).toContainEqual({ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } }], ports: [{ protocol: 'TCP', port: 2222 }] });
    const ns = findObject(objectsUnder(dir, 'namespaces:\n  ci: builds\n'), 'NetworkPolicy', 'gitea').spec.ingress;
    expect(ns).toContainEqual({ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'builds' } } }], ports: [{ protocol: 'TCP', port: 2222 }] });
  });

  it('runs Gitea and PostgreSQL in the platform PriorityClass', () => {
    expect(pod.priorityClassName).toBe('raibid-platform');
    expect(podSpecOf(postgresSts).priorityClassName).toBe('raibid-platform');
  });

  it('reaches PostgreSQL, the API’s webhook port and HTTPS on the internet only', () => {
    expect(policy('gitea').egress.map((e: { ports: { port: number }[] }) => e.ports.map((p) => p.port))).toEqual([[5432], [8080], [443]]);
    expect(policy('gitea').egress[1].to).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'raibid-api', 'app.kubernetes.io/part-of': 'raibid-ci' } } },
    ]);
  });

  it('exposes the requests of Gitea and PostgreSQL', () => {
    const g = buildApp(config()).node.findChild('gitea') as Gitea;
    expect(g.requests).toEqual({ cpuMillis: 350, memoryBytes: (1536 + 768) * 2 ** 20 });
  });

  it('is applied by bootstrap before Flux', () => {
    const bundle = synthFiles().get('dist/bootstrap.k8s.yaml')!;
    for (const name of ['name: gitea-data', 'name: gitea-postgres-data', 'kind: Deployment']) expect(bundle).toContain(name);
  });

  it('fails when TLS is asked for (refused with the config)', () => {
    expect(synthError('gitea:\n  registry:\n    tls: true\n')).toContain(
      'raibid.yaml: gitea.registry.tls: true, but raibid-ci does not provision a TLS certificate for gitea.dgx.local yet; set it to false (plain HTTP on the LAN, and k3s is told the registry is insecure)',
    );
  });

  it('fails when the API’s LAN port takes one of Gitea’s host ports (refused with the config)', () => {
    expect(synthError('api:\n  lanPort: 2222\n')).toContain('raibid.yaml: api.lanPort: 2222 is also the port of Gitea SSH (ServiceLB) on the node; k3s ServiceLB and the node\'s own services each need a port of their own');
    expect(synthError('api:\n  lanPort: 80\n')).toContain('raibid.yaml: api.lanPort: 80 is also the port of Gitea HTTP (ServiceLB) on the node');
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

describe('PostgreSQL for Gitea', () => {
  const pg = podSpecOf(postgresSts);

  it('is a StatefulSet of the official image', () => {
    expect(postgres.image).toBe('docker.io/library/postgres:18.6-alpine3.24');
    expect(postgresSts.spec.replicas).toBe(1);
    expect(postgresSts.spec.serviceName).toBe('gitea-postgres');
  });

  it('keeps data on its own retained claim', () => {
    expect(findObject(objs, 'PersistentVolumeClaim', 'gitea-postgres-data').spec.resources.requests.storage).toBe('20Gi');
    expect(postgres.volumeMounts).toContainEqual({ mountPath: '/var/lib/postgresql', name: 'data' });
    expect(findObject(objectsUnder(dir, 'gitea:\n  postgres:\n    storage: 40Gi\n'), 'PersistentVolumeClaim', 'gitea-postgres-data').spec.resources.requests.storage).toBe('40Gi');
  });

  it('reads its password from the gitea-postgres Secret as a file', () => {
    expect(postgres.env).toContainEqual({ name: 'POSTGRES_PASSWORD_FILE', value: '/etc/gitea-postgres/password' });
    expect(postgres.env.some((e: { name: string }) => e.name === 'POSTGRES_PASSWORD')).toBe(false);
    expect(pg.volumes).toContainEqual({ name: 'secret', secret: { secretName: 'gitea-postgres', defaultMode: 0o440 } });
  });

  it('runs as the Alpine image’s postgres user on a read-only root', () => {
    expect(pg.securityContext).toMatchObject({ runAsUser: 70, runAsGroup: 70, fsGroup: 70 });
    expect(postgres.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(postgres.volumeMounts).toEqual(expect.arrayContaining([{ mountPath: '/var/run/postgresql', name: 'socket' }, { mountPath: '/tmp', name: 'tmp' }]));
    const debian = podSpecOf(findObject(objectsUnder(dir, 'gitea:\n  postgres:\n    image: docker.io/library/postgres:18.6-trixie\n'), 'StatefulSet', 'gitea-postgres'));
    expect(debian.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999 });
  });

  it('is ready when pg_isready says so', () => {
    expect(postgres.readinessProbe.exec.command).toEqual(['pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'gitea', '-d', 'gitea']);
    expect(postgres.livenessProbe.tcpSocket).toEqual({ port: 5432 });
  });

  it('accepts Gitea’s pods only', () => {
    expect(policy('gitea-postgres')).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitea-postgres', 'app.kubernetes.io/part-of': 'raibid-ci' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infrastructure' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitea', 'app.kubernetes.io/part-of': 'raibid-ci' } } }],
          ports: [{ protocol: 'TCP', port: 5432 }],
        },
      ],
    });
  });
});

describe('the admin init script (against a stand-in gitea CLI)', () => {
  let root = '';
  const FAKE = `#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_STATE/calls"
case "$*" in
  migrate) exit 0 ;;
  "admin user list --admin")
    echo "2026/11/22 13:00:00 ...s/setting/setting.go:1 [W] a warning line"
    echo "ID   Username       Email           IsActive IsAdmin 2FA"
    if [ -f "$FAKE_STATE/admin" ]; then echo "1    $(cat "$FAKE_STATE/admin")   admin@dgx.local true     true    false"; fi
    exit 0 ;;
esac
if [ "$1 $2 $3" = "admin user create" ]; then
  while [ $# -gt 0 ]; do if [ "$1" = --username ]; then echo "$2" > "$FAKE_STATE/admin"; fi; shift; done
  echo "generated random password is 'RANDOMPW0123'"
  echo "New user 'raibid-admin' has been successfully created!"
fi
exit 0
`;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'raibid-gitea-'));
    for (const d of ['bin', 'state', 'admin']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'bin', 'gitea'), FAKE);
    chmodSync(join(root, 'bin', 'gitea'), 0o755);
    // Only the username is mounted (items): the pod has no password file.
    writeFileSync(join(root, 'admin', 'username'), 'raibid-admin');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const run = () => {
    writeFileSync(join(root, 'state', 'calls'), '');
    const r = spawnSync('sh', ['-c', adminScript()], {
      encoding: 'utf8',
      env: { PATH: `${join(root, 'bin')}:${process.env.PATH}`, FAKE_STATE: join(root, 'state'), GITEA_ADMIN_DIR: join(root, 'admin'), GITEA_ADMIN_EMAIL: 'admin@dgx.local' },
    });
    return { ...r, calls: readFileSync(join(root, 'state', 'calls'), 'utf8').trim().split('\n') };
  };

  it('is the script the init container runs', () => {
    expect(configure.args[2]).toBe(adminScript());
  });

  it('migrates, then creates the admin with a random password on the first start, printing no password', () => {
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual(['migrate', 'admin user list --admin', 'admin user create --admin --username raibid-admin --email admin@dgx.local --random-password --random-password-length 32 --must-change-password=false']);
    // The CLI prints the generated password (the stand-in CLI too): discarded.
    expect(r.stdout).toBe('configure: migrating the database schema (app.ini in /etc/gitea)\nconfigure: creating admin raibid-admin (its password is set by bootstrap through the API)\n');
  });

  it('leaves an existing admin alone on every later start (its password is bootstrap’s to set)', () => {
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual(['migrate', 'admin user list --admin']);
  });

  it('never passes a password as an argument, and reads no password from the Secret', () => {
    expect(adminScript()).not.toMatch(/ --password\b|user change-password|\/password/);
    expect(configure.env.some((e: { name: string }) => /PASSWORD/i.test(e.name))).toBe(false);
  });

  it('fails without a username in the Secret', () => {
    writeFileSync(join(root, 'admin', 'username'), '');
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('configure: the gitea-admin Secret needs a non-empty username key\n');
    writeFileSync(join(root, 'admin', 'username'), 'raibid-admin');
  });
});
