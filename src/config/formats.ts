/**
 * Formats of raibid.yaml strings that reach git, cron, containerd and shells: each check returns why a
 * value is invalid (undefined when it is valid), so the schema and the contradiction checks word their
 * messages the same way. No cdk8s here: the config is validated before anything is built.
 */

/** Longest value echoed in a message; longer ones are cut with "…" and their length. */
export const MAX_SHOWN = 60;

/** A string cut to MAX_SHOWN characters for messages: `"aaaa…" (400 characters)`. */
export function brief(s: string, max = MAX_SHOWN): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}… (${s.length} characters)`;
}

/** A value as messages show it: strings quoted and shortened, lists and mappings named, numbers as written. */
export function quote(v: unknown): string {
  if (typeof v === 'string') return v.length <= MAX_SHOWN ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, MAX_SHOWN - 1)).slice(0, -1)}…" (${v.length} characters)`;
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return brief(String(v));
}

/**
 * Why `name` is not a branch name git accepts (`git check-ref-format --branch`), undefined when it is.
 * Also refused: `@` alone, which git reads as HEAD in every revision.
 * @see https://git-scm.com/docs/git-check-ref-format
 */
export function gitBranchProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name === '@' || name === 'HEAD') return `${JSON.stringify(name)} names the current commit, not a branch`;
  if (name.startsWith('-')) return 'it starts with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return 'it contains a space, a control character or one of ~ ^ : ? * [ \\';
  if (name.includes('..')) return 'it contains ".."';
  if (name.includes('@{')) return 'it contains "@{"';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'it has an empty "/"-separated part';
  if (name.endsWith('.')) return 'it ends with "."';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return `its part ${JSON.stringify(brief(part))} starts with "."`;
    if (part.endsWith('.lock')) return `its part ${JSON.stringify(brief(part))} ends with ".lock"`;
  }
  return undefined;
}

const CRON_FIELDS: readonly { name: string; min: number; max: number; names?: readonly string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/** Why a 5-field cron schedule (as Kubernetes CronJobs read it) is invalid; undefined when it is valid. */
export function cronProblem(schedule: string): string | undefined {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `it has ${fields.length} field${fields.length === 1 ? '' : 's'}, not 5: minute hour day-of-month month day-of-week`;
  for (const [i, text] of fields.entries()) {
    const f = CRON_FIELDS[i];
    const value = (v: string): number | undefined => {
      const named = f.names?.indexOf(v.toLowerCase()) ?? -1;
      if (named >= 0) return named + (f.name === 'month' ? 1 : 0);
      return /^\d{1,4}$/.test(v) ? Number(v) : undefined;
    };
    for (const part of text.split(',')) {
      const m = /^(\*|[^-/]+(?:-[^-/]+)?)(?:\/(\d{1,4}))?$/.exec(part);
      if (!m || (m[2] !== undefined && Number(m[2]) < 1)) return `${f.name}: ${JSON.stringify(brief(part))} is not a value, a range, a list or a step`;
      if (m[1] === '*') continue;
      const [lo, hi = lo] = m[1].split('-').map(value);
      if (lo === undefined || hi === undefined || lo < f.min || hi > f.max || lo > hi) return `${f.name}: ${JSON.stringify(brief(part))} is outside ${f.min}–${f.max}`;
    }
  }
  return undefined;
}

// The distribution reference grammar (github.com/distribution/reference, regexp.go).
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = 'sha256:[a-f0-9]{64}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** Longest repository name a registry accepts. */
const MAX_NAME = 255;

/**
 * Why `ref` is not an image reference pinned to a tag or a sha256 digest, undefined when it is.
 * @see https://github.com/distribution/reference/blob/main/reference.go
 */
export function imageProblem(ref: string): string | undefined {
  const m = REFERENCE.exec(ref);
  if (!m) return 'expected an image reference such as "docker.io/library/redis:8.2.2-alpine" (registry/name:tag or @sha256:digest; the name in lowercase)';
  if (m[1].length > MAX_NAME) return `expected an image name of at most ${MAX_NAME} characters`;
  if (m[2] === undefined && m[3] === undefined) return 'expected an image reference with a tag, such as "redis:8.2.2-alpine"';
  if (m[2] === 'latest') return 'the "latest" tag is not allowed: pin a version';
  return undefined;
}

/** Why `url` is not an http(s) URL with a host and no credentials, undefined when it is. */
export function httpUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected a URL such as "https://mirror.example:5000"';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `expected an http:// or https:// URL, not ${u.protocol}`;
  if (!u.hostname) return 'expected a URL with a host';
  if (u.username || u.password) return 'expected a URL without a user or password (they would be written in plain text)';
  if (/\s/.test(url)) return 'expected a URL without spaces';
  return undefined;
}

/** Why `name` is not a DNS name whose labels are at most 63 characters and whose whole is at most `max`, undefined when it is. */
export function dnsNameProblem(name: string, max = 253): string | undefined {
  if (name.length > max) return `expected a DNS name of at most ${max} characters`;
  for (const label of name.split('.')) {
    if (label.length > 63) return `expected DNS labels of at most 63 characters, but one has ${label.length}`;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(label)) return 'expected a DNS name such as "dgx.local" (lowercase letters, digits, "-" and ".")';
  }
  return undefined;
}

/** An IPv4 CIDR as a [first, last] address range (numbers). */
export function cidrRange(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const base = ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const first = base - (base % size);
  return [first, first + size - 1];
}

/** An IPv4 address as a number. */
export function ipv4Number(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
