/**
 * Pod rules: the Pod Security Standards "restricted" profile, plus raibid-ci's hardening and
 * reliability rules, for every container of every pod template.
 * @see https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
import { containersOf, type PodTemplate, type Report, type Rule } from './context.js';

/** Volume types the restricted profile allows. */
const ALLOWED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
/** Env names that hold secrets and so must never carry a literal value. */
const SECRET_NAME = /(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;
/** …unless the variable names a file holding the secret. */
const FILE_REFERENCE = /(_FILE|_URI|_PATH|_DIR)$/i;

function rulePss(t: PodTemplate, report: Report): void {
  const r = (rule: string, path: string, msg: string) => report(rule, t.where, t.owner, `${t.path}.${path}`, msg);
  const s = t.spec;
  for (const host of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (s[host] === true) r('pss-host-namespaces', host, `${host} must not be true`);
  }
  (s.volumes ?? []).forEach((v: Record<string, unknown>, i: number) => {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (type === 'hostPath') r('pss-host-path', `volumes[${i}].hostPath`, 'hostPath volumes are not allowed');
    else if (type && !ALLOWED_VOLUMES.has(type)) r('pss-volume-types', `volumes[${i}].${type}`, `volume type ${type} is not allowed (allowed: ${[...ALLOWED_VOLUMES].join(', ')})`);
  });
  const pod = s.securityContext ?? {};
  if (pod.runAsUser === 0) r('pss-root-uid', 'securityContext.runAsUser', 'must not be 0 (root)');
  if (pod.runAsGroup === 0) r('pss-root-uid', 'securityContext.runAsGroup', 'must not be 0 (root group)');
  if (pod.fsGroup === 0) r('pss-root-uid', 'securityContext.fsGroup', 'must not be 0 (root group)');
  if ((pod.supplementalGroups ?? []).includes(0)) r('pss-root-uid', 'securityContext.supplementalGroups', 'must not contain 0');
  if (pod.seccompProfile?.type === 'Unconfined') r('pss-seccomp', 'securityContext.seccompProfile.type', 'Unconfined seccomp is not allowed; use RuntimeDefault');
  if (pod.appArmorProfile?.type === 'Unconfined') r('pss-apparmor', 'securityContext.appArmorProfile.type', 'Unconfined AppArmor is not allowed');
  for (const [k, v] of Object.entries(t.annotations)) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v === 'unconfined') r('pss-apparmor', `metadata.annotations[${JSON.stringify(k)}]`, 'Unconfined AppArmor is not allowed');
  }

  for (const { container: c, path } of containersOf(s)) {
    const sc = c.securityContext ?? {};
    const at = (p: string) => `${path}.${p}`;
    if (sc.privileged === true) r('pss-privileged', at('securityContext.privileged'), 'privileged containers are not allowed');
    if (sc.allowPrivilegeEscalation !== false) r('pss-privilege-escalation', at('securityContext.allowPrivilegeEscalation'), 'must be false');
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) r('pss-capabilities', at('securityContext.capabilities.drop'), 'must drop ALL capabilities');
    const added = (sc.capabilities?.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
    if (added.length) r('pss-capabilities', at('securityContext.capabilities.add'), `only NET_BIND_SERVICE may be added, got ${added.join(', ')}`);
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (nonRoot !== true) r('pss-run-as-non-root', at('securityContext.runAsNonRoot'), 'runAsNonRoot must be true (on the container or the pod)');
    if (sc.runAsUser === 0) r('pss-root-uid', at('securityContext.runAsUser'), 'must not be 0 (root)');
    if (sc.runAsGroup === 0) r('pss-root-uid', at('securityContext.runAsGroup'), 'must not be 0 (root group)');
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') r('pss-seccomp', at('securityContext.seccompProfile.type'), `seccomp must be RuntimeDefault or Localhost, got ${seccomp ?? 'nothing'}`);
    if (sc.appArmorProfile?.type === 'Unconfined') r('pss-apparmor', at('securityContext.appArmorProfile.type'), 'Unconfined AppArmor is not allowed');
    (c.ports ?? []).forEach((p: Record<string, unknown>, i: number) => {
      if (p.hostPort !== undefined && p.hostPort !== 0) r('pss-host-port', at(`ports[${i}].hostPort`), 'hostPort is not allowed');
    });
  }
}

function ruleHardening(t: PodTemplate, report: Report): void {
  const r = (rule: string, path: string, msg: string) => report(rule, t.where, t.owner, `${t.path}.${path}`, msg);
  const s = t.spec;
  for (const { container: c, path, init } of containersOf(s)) {
    const at = (p: string) => `${path}.${p}`;
    if (c.securityContext?.readOnlyRootFilesystem !== true) r('read-only-root', at('securityContext.readOnlyRootFilesystem'), 'must be true; mount an emptyDir or PVC where the container writes');
    const image: unknown = c.image;
    if (typeof image !== 'string' || image === '') r('image-pinned', at('image'), 'every container needs an image');
    else if (!/@sha256:[a-f0-9]{64}$/.test(image)) {
      const tag = /:([^/:@]+)$/.exec(image)?.[1];
      if (!tag) r('image-pinned', at('image'), `image ${JSON.stringify(image)} has no tag; pin a version`);
      else if (tag === 'latest') r('image-pinned', at('image'), `image ${JSON.stringify(image)} uses "latest"; pin a version`);
    }
    const res = c.resources ?? {};
    if (res.requests?.cpu === undefined) r('resources', at('resources.requests.cpu'), 'a CPU request is required');
    if (res.requests?.memory === undefined) r('resources', at('resources.requests.memory'), 'a memory request is required');
    if (res.limits?.memory === undefined) r('resources', at('resources.limits.memory'), 'a memory limit is required');
    if (t.longRunning && !init) {
      for (const probe of ['livenessProbe', 'readinessProbe'] as const) {
        const p = c[probe];
        if (!p) {
          r('probes', at(probe), `long-running containers need a ${probe}`);
          continue;
        }
        const port = p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port;
        if (port === undefined) continue; // exec probes
        const declared = (c.ports ?? []).some((d: Record<string, unknown>) => d.containerPort === port || d.name === port);
        if (!declared) r('probes', at(`${probe}.${p.httpGet ? 'httpGet' : p.tcpSocket ? 'tcpSocket' : 'grpc'}.port`), `probe port ${JSON.stringify(port)} is not a declared container port`);
      }
    }
    (c.env ?? []).forEach((e: Record<string, unknown>, i: number) => {
      if (typeof e.name !== 'string' || !SECRET_NAME.test(e.name) || e.value === undefined || e.value === '') return;
      if (FILE_REFERENCE.test(e.name) && typeof e.value === 'string' && /^(\/|file:)/.test(e.value)) return;
      r('secret-env-literal', at(`env[${i}].value`), `${e.name} looks like a secret but has a literal value; use valueFrom.secretKeyRef or a mounted file`);
    });
  }
}

/** Pod Security Standards restricted, for every pod template. */
export const podSecurityRule: Rule = (ctx, report) => ctx.pods.forEach((t) => rulePss(t, report));

/** Read-only root, pinned images, resources, probes, no secret literals. */
export const podHardeningRule: Rule = (ctx, report) => ctx.pods.forEach((t) => ruleHardening(t, report));

/** A dedicated ServiceAccount, and no API token unless the account is bound to a role. */
export const serviceAccountRule: Rule = (ctx, report) => {
  const bound = new Set<string>();
  const accounts = new Map<string, Record<string, any>>();
  for (const { obj } of ctx.objects) {
    if (obj.kind === 'RoleBinding' || obj.kind === 'ClusterRoleBinding') {
      for (const s of obj.subjects ?? []) if (s.kind === 'ServiceAccount') bound.add(`${s.namespace ?? obj.metadata.namespace}/${s.name}`);
    }
    if (obj.kind === 'ServiceAccount') accounts.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
  }
  for (const t of ctx.pods) {
    const sa: string | undefined = t.spec.serviceAccountName;
    if (!sa || sa === 'default') {
      report('service-account', t.where, t.owner, `${t.path}.serviceAccountName`, 'use a dedicated ServiceAccount, not "default"');
      continue;
    }
    const key = `${t.namespace}/${sa}`;
    const automount = t.spec.automountServiceAccountToken ?? accounts.get(key)?.automountServiceAccountToken;
    if (!bound.has(key) && automount !== false) report('service-account-token', t.where, t.owner, `${t.path}.automountServiceAccountToken`, `must be false: ServiceAccount ${sa} is bound to no role, so the pod needs no API token`);
  }
};
