/**
 * raibid.yaml's `mirrors` as the runtime reads it (src/mirror/contract.ts): every default filled in,
 * one entry per source. The mirror construct writes it into its ConfigMap and the API construct into
 * the API's settings file, so the reconciler and the API read the same list.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { durationSeconds } from '../config/quantity.js';
import { GITHUB_SOURCE } from '../config/sections/mirrors.js';
import type { MirrorSettingsInput, MirrorSourceInput } from './contract.js';

export function mirrorSettings(c: RaibidConfig): MirrorSettingsInput {
  const m = c.mirrors;
  const sources = m.sources.map((s, i): MirrorSourceInput => {
    const [, githubOwner, githubRepo] = GITHUB_SOURCE.exec(s.from)!;
    const one = githubRepo !== undefined;
    // Keys in the order people read them: what, from where, to where, which, how.
    return {
      key: `mirrors.sources[${i}]`,
      kind: one ? 'repository' : 'owner',
      githubOwner,
      ...(one ? { githubRepo } : {}),
      owner: s.owner ?? m.organization,
      ...(one ? { name: s.name ?? githubRepo } : {}),
      include: one ? [] : [...(s.include ?? [])],
      exclude: one ? [] : [...(s.exclude ?? [])],
      skipArchived: one ? false : (s.skipArchived ?? m.skipArchived),
      skipForks: one ? false : (s.skipForks ?? m.skipForks),
      lfs: s.lfs ?? m.lfs,
      wiki: s.wiki ?? m.wiki,
      intervalSeconds: durationSeconds(s.interval ?? m.interval),
      ci: s.ci ?? m.ci,
    };
  });
  return { concurrency: m.concurrency, schedule: m.schedule, sources };
}
