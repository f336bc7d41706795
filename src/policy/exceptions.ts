/**
 * The one allowlist of Pod Security exceptions. Everything else runs under `restricted`.
 * The policy suite fails when an exception here is not used by some object, so the list cannot rot.
 */
import type { RaibidConfig } from '../config/resolve.js';

export interface PodSecurityException {
  /** Which configured namespace (a key of `namespaces` in raibid.yaml). */
  readonly namespaceKey: keyof RaibidConfig['namespaces'];
  /** The Pod Security level enforced there instead of `restricted`. */
  readonly enforce: 'baseline' | 'privileged';
  /** The policy rules that may be broken there, and only there. */
  readonly rules: readonly string[];
  /** Why; shown in the README's security model. */
  readonly reason: string;
}

export const POD_SECURITY_EXCEPTIONS: readonly PodSecurityException[] = [
  {
    namespaceKey: 'buildkit',
    enforce: 'privileged',
    rules: ['pss-seccomp', 'pss-apparmor', 'pss-privilege-escalation', 'pss-capabilities', 'read-only-root'],
    reason:
      'Rootless BuildKit creates user and mount namespaces and mounts inside them, which needs seccomp and AppArmor Unconfined (baseline forbids both). rootlesskit maps its subordinate UIDs/GIDs with the setuid newuidmap/newgidmap helpers, which need privilege escalation and the SETUID and SETGID capabilities (moby/buildkit#1671); it writes state beside its data directory, so its root filesystem stays writable. It still runs as UID 1000, never privileged, with no host namespaces, host paths or other capabilities, reachable only from agent pods and the image build Jobs (namespace images, restricted); its namespace holds nothing else.',
  },
];

/** The exception for a namespace name, if any. */
export function exceptionFor(config: RaibidConfig, namespace: string | undefined): PodSecurityException | undefined {
  return POD_SECURITY_EXCEPTIONS.find((e) => config.namespaces[e.namespaceKey] === namespace);
}
