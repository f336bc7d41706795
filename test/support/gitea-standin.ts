/**
 * Gitea API STAND-IN for tests. This is not Gitea.
 *
 * Real Gitea cannot run on the test machine, so runtime tests talk to this small HTTP server instead. It serves
 * a handful of Gitea 1.27 REST endpoints under /api/v1 and git smart-HTTP (clone/fetch/push) for repositories
 * that are real bare git repositories in a temporary folder.
 *
 * The rule it is built around: a request that real Gitea would reject is rejected here too, with Gitea's status
 * code and, where we know it, Gitea's message. It is deliberately *stricter* than Gitea in a few places (unknown
 * body fields, swagger enums Gitea does not enforce, unknown query parameters); those 422 answers carry a message
 * that starts with "gitea-standin:" so nobody mistakes them for Gitea behaviour.
 *
 * Where the behaviour comes from:
 *  - test/fixtures/gitea-api/swagger-subset.json: operations, schemas and `binding` struct-tag rules taken as data
 *    from Gitea v1.27.0-rc0 (templates/swagger/v1_json.tmpl, modules/structs/*.go);
 *  - test/fixtures/gitea-api/swagger-bootstrap.json: the same for the endpoints the Pulumi bootstrap calls (admin
 *    users, access tokens, teams, organisation repositories, branch protections), merged over the subset;
 *  - reading Gitea's code at that tag for the order of checks and the messages: routers/api/v1/api.go (routing
 *    happens before auth, then repo lookup, then reqToken, then body binding), services/auth (token, bearer and
 *    basic credentials), routers/web/repo/githttp.go (git over HTTP), the handlers of each endpoint.
 * Comments below say "Gitea:" for behaviour read from Gitea and "stand-in:" for choices of this stand-in.
 *
 * Auth, as Gitea's routers/api/v1/api.go groups it: Basic auth with a user's password (`users`) or a token; token
 * scopes per route category (admin, user, organization, repository; GET needs read, anything else write) with
 * Gitea's 403 message; site-admin-only routes (/admin/*), token routes that require Basic auth and the user
 * themself or an admin, organisation-owner-only team routes.
 *
 * Not modelled: repository permissions beyond "signed in or not" (every signed-in user may write every repository),
 * branch protection enforcement on push, webhooks delivery, pagination Link headers, LFS, API rate limits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---------------------------------------------------------------------------------------------------------------
// The swagger subset (data from Gitea) and the shapes we read from it
// ---------------------------------------------------------------------------------------------------------------

interface Schema {
  type?: string;
  format?: string;
  enum?: string[];
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  $ref?: string;
  'x-go-name'?: string;
}
interface Parameter { name: string; in: 'path' | 'query' | 'body'; required?: boolean; type?: string; format?: string; enum?: string[]; schema?: Schema }
interface Operation { operationId: string; method: string; path: string; parameters: Parameter[]; responses: Record<string, unknown> }
/** `absentIsZero`: a plain Go field, so an absent value is checked as its zero value (""). */
interface BindingRule { json: string; go: string; rules: string[]; absentIsZero?: boolean }
export interface SwaggerSubset {
  source: Record<string, string>;
  basePath: string;
  operations: Operation[];
  definitions: Record<string, Schema>;
  bindingRules: Record<string, BindingRule[]>;
  routeIndex: Record<string, string[]>;
}

/** The fixture, parsed once. Exported so tests can check responses against the same schemas. */
export const swaggerSubset: SwaggerSubset = (() => {
  const read = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/gitea-api/${name}`, import.meta.url), 'utf8')) as SwaggerSubset;
  const base = read('swagger-subset.json');
  const extra = read('swagger-bootstrap.json');
  return {
    ...base,
    operations: [...base.operations, ...extra.operations],
    definitions: { ...base.definitions, ...extra.definitions },
    bindingRules: { ...base.bindingRules, ...extra.bindingRules },
  };
})();

const API_BASE = '/api/v1';
/** Gitea's API answers use this content type (services/context: ctx.JSON). */
const JSON_TYPE = 'application/json;charset=utf-8';
/** Gitea's default mirror interval and the smallest one it accepts ([mirror] DEFAULT_INTERVAL / MIN_INTERVAL). */
const DEFAULT_MIRROR_INTERVAL_NS = 8 * 3600e9;
const MIN_MIRROR_INTERVAL_NS = 10 * 60e9;
/** Page sizes: [api] DEFAULT_PAGING_NUM 30, MAX_RESPONSE_ITEMS 50; [git] COMMITS_RANGE_SIZE 50. */
const DEFAULT_PAGE_SIZE = 30;
const MAX_PAGE_SIZE = 50;
const COMMITS_RANGE_SIZE = 50;
/** Fixed identity and clock for commits made by addRepo/commit, so their SHAs do not depend on when tests run. */
const FIXED_AUTHOR = { name: 'Gitea Stand-in', email: 'standin@example.invalid' };
const FIXED_EPOCH = 1_735_689_600; // 2025-01-01T00:00:00Z
const ZERO_TIME = '0001-01-01T00:00:00Z'; // how Go marshals a zero time.Time

// ---------------------------------------------------------------------------------------------------------------
// Public API of the stand-in
// ---------------------------------------------------------------------------------------------------------------

export interface GiteaStandInOptions {
  /** Valid access tokens: a list (all owned by `login`) or a map token → login of its owner. */
  tokens: readonly string[] | Readonly<Record<string, string>>;
  /** Owner of the tokens given as a list. Default "ci-bot". */
  login?: string;
  /** Logins that are site admins (Gitea shows them more detail, e.g. 500 messages). Default none. */
  admins?: readonly string[];
  /** Gitea's [service] REQUIRE_SIGNIN_VIEW: anonymous API calls get 403 and anonymous clones 401. Default false, as in Gitea. */
  requireSignInView?: boolean;
  /** Gitea's [migrations] ALLOW_LOCALNETWORKS: allow migrating from loopback/private hosts. Default false, as in Gitea. */
  allowLocalNetworks?: boolean;
  /** Users that log in with a password (Basic auth), e.g. the admin Gitea creates at its first start. Default none. */
  users?: Readonly<Record<string, { password: string; email?: string; admin?: boolean }>>;
  /** Also serve on this Unix socket: clients in another network namespace reach the stand-in through it. */
  socketPath?: string;
  /**
   * Also serve `POST /-/standin-cli/generate-access-token?username=…&token_name=…&scopes=…`, which is NOT a Gitea
   * route: it stands for the Gitea CLI run inside the Gitea pod (`gitea admin user generate-access-token --raw`,
   * see generateAccessToken), for a fake `kubectl exec`. Answers 200 with the token and a newline, or 400 with the
   * CLI's error. Default false.
   */
  cliRoute?: boolean;
}

/** A user's state as the admin API leaves it (users created or edited through the API, or given in `users`). */
export interface StandInUser { login: string; email: string; admin: boolean; mustChangePassword: boolean; allowCreateOrganization: boolean; password: string | null }
/** An access token created through the API (never one given in `tokens`). */
export interface StandInToken { id: number; owner: string; name: string; sha1: string; scopes: string[] }
/** A team as the API leaves it. */
export interface StandInTeam { id: number; org: string; name: string; description: string; permission: string; includesAllRepositories: boolean; canCreateOrgRepo: boolean; units: string[]; unitsMap: Record<string, string>; visibility: string; members: string[] }
/** A branch protection rule as the API leaves it (the fields sent, over Gitea's defaults). */
export interface StandInProtection { owner: string; repo: string; ruleName: string; rule: Record<string, unknown> }

/** One commit status accepted by POST /repos/{owner}/{repo}/statuses/{sha}. */
export interface RecordedStatus {
  owner: string;
  repo: string;
  /** The full commit SHA the status was stored on (Gitea resolves short SHAs and branch names). */
  sha: string;
  state: string;
  targetUrl: string;
  description: string;
  context: string;
  /** The JSON body as sent. */
  body: Record<string, unknown>;
  creator: string;
  time: Date;
}

/** One request as the stand-in saw it. Never holds credentials: only how the caller authenticated. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query parameters; values of `token`/`access_token` are replaced by "<redacted>". */
  query: Record<string, string>;
  status: number;
  kind: 'api' | 'git' | 'other';
  /** How credentials were sent: `Authorization: token …`, `Bearer …`, Basic, or none. */
  auth: 'token' | 'bearer' | 'basic' | 'none';
  /** Whether the credentials were valid; null when none were sent. */
  authOk: boolean | null;
  user: string | null;
  operationId: string | null;
  /** True when a fault rule answered or delayed this request. */
  fault: boolean;
}

/** A background mirror sync started by POST /repos/{owner}/{repo}/mirror-sync. */
export interface RecordedMirrorSync { owner: string; repo: string; time: Date; ok: boolean | null; error?: string }

/** Make matching requests fail or slow down, for retry tests. Matching is on method and path (no query). */
export interface FaultRule {
  /** HTTP method to match; any when absent. */
  method?: string;
  /** Exact path, a pattern with `*` (one segment) and `**` (anything), or a RegExp. */
  path: string | RegExp;
  /** How many matching requests are affected. Default 1. */
  times?: number;
  /** Answer with this status (e.g. 500, 503) instead of serving the request. */
  status?: number;
  /** Wait this long first (then fail with `status`, or serve normally when no status is given). */
  delayMs?: number;
  /** Extra response headers, e.g. { 'retry-after': '1' }. */
  headers?: Record<string, string>;
}
export interface Faults {
  add(rule: FaultRule): void;
  clear(): void;
  /** Rules that still have requests left to affect. */
  readonly pending: ReadonlyArray<{ rule: FaultRule; remaining: number }>;
}

export interface AddRepoOptions {
  files?: Record<string, string>;
  /** Branch to commit to; becomes the default branch. Default "main" (Gitea's [repository] DEFAULT_BRANCH). */
  branch?: string;
  private?: boolean;
  description?: string;
  /** Message of the first commit. Default "Initial commit". */
  message?: string;
}

export interface GiteaStandIn {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** url + "/api/v1". */
  apiUrl: string;
  statuses: RecordedStatus[];
  requests: RecordedRequest[];
  mirrorSyncs: RecordedMirrorSync[];
  faults: Faults;
  /** Create a bare repository (and its owner, as an organisation, when unknown) with one commit of `files`. */
  addRepo(owner: string, name: string, opts?: AddRepoOptions): Promise<{ sha: string; cloneUrl: string; htmlUrl: string }>;
  /**
   * Add a commit to `branch` (default: the default branch; a new branch starts from the default branch's head).
   * A `null` content deletes the file. Returns the commit's SHA.
   */
  commit(owner: string, name: string, files: Record<string, string | null>, message: string, branch?: string): Promise<string>;
  /**
   * What `gitea admin user generate-access-token --username U --token-name N --scopes S --raw` does in the Gitea
   * pod (cmd/admin_user_generate_access_token.go): creates a token for U with the comma-separated scopes and
   * returns it; throws the CLI's error for an unknown user, a name already used or an invalid scope.
   */
  generateAccessToken(username: string, tokenName: string, scopes: string): string;
  /** Users (admin API state), access tokens created through the API, teams and branch protections. */
  users(): StandInUser[];
  tokens(): StandInToken[];
  teams(): StandInTeam[];
  protections(): StandInProtection[];
  /** An organisation's visibility, or null when there is none. */
  orgVisibility(name: string): string | null;
  /** Create an organisation (as POST /orgs would). */
  addOrg(name: string, opts?: { visibility?: 'public' | 'limited' | 'private'; fullName?: string }): void;
  /** Path of a repository's bare git directory on disk. */
  repoDir(owner: string, name: string): string;
  /** Wait for background work (mirror syncs) to finish. */
  settled(): Promise<void>;
  /** Stop the server, kill git child processes, remove the temporary folder. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// In-memory model
// ---------------------------------------------------------------------------------------------------------------

interface Owner {
  id: number;
  login: string;
  kind: 'user' | 'org';
  fullName: string;
  email: string;
  visibility: 'public' | 'limited' | 'private';
  description: string;
  website: string;
  location: string;
  repoAdminChangeTeamAccess: boolean;
  admin: boolean;
  created: Date;
  /** Users: the password (null: no password login), must_change_password, allow_create_organization. */
  password?: string | null;
  mustChangePassword?: boolean;
  allowCreateOrganization?: boolean;
  /** Organisations: ids of the owners (the user that created it); site admins may act as owners too. */
  ownerIds?: Set<number>;
}

interface Repo {
  id: number;
  owner: Owner;
  name: string;
  dir: string;
  private: boolean;
  description: string;
  website: string;
  defaultBranch: string;
  archived: boolean;
  template: boolean;
  mirror: boolean;
  mirrorIntervalNs: number;
  enablePrune: boolean;
  originalUrl: string;
  created: Date;
  updated: Date;
  commitCount: number;
  /** Other EditRepoOption fields as last set (shown back by GET where the Repository struct has them). */
  settings: Record<string, unknown>;
  statuses: StoredStatus[];
}

interface StoredStatus { index: number; sha: string; state: string; targetUrl: string; description: string; context: string; creator: Owner; created: Date }

type Credentials = { scheme: 'none' } | { scheme: 'token' | 'bearer'; token: string } | { scheme: 'basic'; user: string; password: string };
/** `scopes`: null when the caller is not restricted by token scopes (password login, tokens given in `tokens`). */
interface Caller { scheme: RecordedRequest['auth']; ok: boolean | null; user: Owner | null; scopes?: string[] | null }

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extraHeaders: Record<string, string> = {}) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers: git, JSON, time
// ---------------------------------------------------------------------------------------------------------------

/** Go marshals time.Time as RFC 3339; a UTC offset is written "Z". Millisecond precision is dropped like Gitea's unix timestamps. */
function goTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** git's strict ISO dates ("…+00:00") in Go's RFC 3339 spelling. */
function gitIsoToGo(s: string): string {
  return s.replace(/\+00:00$/, 'Z');
}

/** Go's strconv.ParseBool, which Gitea uses for boolean query parameters. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration (Gitea parses mirror_interval with it); returns nanoseconds or Go's error text. */
export function parseGoDuration(input: string): number | { error: string } {
  const invalid = { error: `time: invalid duration "${input}"` };
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return invalid;
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (s !== '') {
    const m = part.exec(s);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return invalid;
    const unit = m[3] ?? '';
    if (unit === '') return { error: `time: missing unit in duration "${input}"` };
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) return { error: `time: unknown unit "${unit}" in duration "${input}"` };
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * scale;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** Go's time.Duration.String(), which Gitea uses to show mirror_interval ("8h0m0s", "10m0s", "1.5s"). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const frac = (x: number) => Number(x.toFixed(9)).toString();
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = frac(u / div) + unit;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    out = (h ? `${h}h` : '') + (h || m ? `${m}m` : '') + `${frac(u / 1e9)}s`;
  }
  return (ns < 0 ? '-' : '') + out;
}

/** Replace credentials in URLs inside a message (Gitea: util.SanitizeErrorCredentialURLs). */
function sanitizeCredentials(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1<credentials>@');
}

/** Parse an Authorization header the way Gitea does (modules/auth/httpauth): exactly two fields. */
function parseAuthorization(header: string | undefined): Credentials {
  if (!header) return { scheme: 'none' };
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2) return { scheme: 'none' };
  const [kind, value] = [parts[0]!.toLowerCase(), parts[1]!];
  if (kind === 'token' || kind === 'bearer') return { scheme: kind, token: value };
  if (kind === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { scheme: 'none' };
    return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { scheme: 'none' };
}

/** Split a swagger path template and match it against a concrete path. A trailing {filepath} takes the rest. */
function matchTemplate(template: string, path: string): Record<string, string> | null {
  const t = template.split('/').filter(Boolean);
  const p = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const seg = t[i]!;
    const param = /^\{(\w+)\}$/.exec(seg)?.[1];
    if (param === 'filepath' && i === t.length - 1) {
      if (p.length <= i) return null;
      params[param] = p.slice(i).map(decodeURIComponent).join('/');
      return params;
    }
    if (i >= p.length) return null;
    if (param) params[param] = decodeURIComponent(p[i]!);
    else if (seg !== p[i]) return null;
  }
  return t.length === p.length ? params : null;
}

/** Literal segments first, the way chi prefers static routes over parameters. */
function specificity(template: string): number {
  return template.split('/').filter((s) => s && !s.startsWith('{')).length;
}

function faultMatcher(path: string | RegExp): (p: string) => boolean {
  if (path instanceof RegExp) return (p) => path.test(p);
  if (!path.includes('*')) return (p) => p === path;
  const rx = new RegExp(`^${path.split(/(\*\*|\*)/).map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
  return (p) => rx.test(p);
}

/** Loopback, private, link-local and other non-global addresses (Gitea refuses to migrate from these by default). */
function isLocalAddress(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224;
  }
  const v6 = ip.toLowerCase();
  return v6 === '::1' || v6 === '::' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe80') || v6.startsWith('::ffff:127.') || v6.startsWith('ff');
}

// ---------------------------------------------------------------------------------------------------------------
// Body validation against the fixture: Gitea's own checks first, then the stand-in's stricter ones
// ---------------------------------------------------------------------------------------------------------------

/** Go type names used in Gitea's "cannot unmarshal" messages, where they are not plain string/bool/int64. */
const GO_TYPES: Record<string, string> = {
  'CreateStatusOption.state': 'commitstatus.CommitStatusState',
  'CreateOrgOption.visibility': 'structs.UserVisibility',
};

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'object') return 'object';
  return typeof v; // string | number
}

function goTypeOf(schema: Schema, key: string): string {
  if (GO_TYPES[key]) return GO_TYPES[key]!;
  if (schema.$ref) return `structs.${schema.$ref.split('/').pop()}`;
  if (schema.type === 'integer') return schema.format ?? 'int64';
  if (schema.type === 'boolean') return 'bool';
  if (schema.type === 'array') return `[]${schema.items ? goTypeOf(schema.items, '') : 'interface {}'}`;
  if (schema.type === 'object' && schema.additionalProperties) return `map[string]${goTypeOf(schema.additionalProperties, '')}`;
  return schema.type ?? 'interface {}';
}

interface BodyProblems { gitea: string | null; standin: string | null }

/**
 * Walk a parsed JSON value against a schema. Type mismatches are what Go's encoding/json rejects (Gitea answers
 * 422 "[]: json: cannot unmarshal …"); unknown fields and enum misses are only noted as stand-in problems,
 * because encoding/json ignores unknown fields and Gitea does not check most swagger enums.
 */
function walkSchema(value: unknown, schema: Schema, defName: string, path: string, problems: BodyProblems): void {
  const def = schema.$ref ? swaggerSubset.definitions[schema.$ref.split('/').pop()!] : schema;
  const refName = schema.$ref ? schema.$ref.split('/').pop()! : defName;
  if (!def || value === null) return; // Go leaves null as the zero value
  const typeError = (goType: string) => {
    const field = path ? `Go struct field ${path} of type ${goType}` : `Go value of type ${goType}`;
    const shown = typeof value === 'number' && def.type === 'integer' ? `number ${value}` : jsonKind(value);
    problems.gitea ??= `[]: json: cannot unmarshal ${shown} into ${field}`;
  };
  const goName = goTypeOf(schema, path); // path is "Definition.field…", the key GO_TYPES uses
  switch (def.type) {
    case 'string':
      if (typeof value !== 'string') return typeError(goName);
      if (def.enum && !def.enum.includes(value)) {
        problems.standin ??= `gitea-standin: ${path || refName} must be one of [${def.enum.join(', ')}] per the Gitea 1.27 swagger, got ${JSON.stringify(value)} (Gitea itself does not enforce this enum)`;
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') return typeError(goName);
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return typeError(goName);
      return;
    case 'array':
      if (!Array.isArray(value)) return typeError(goName);
      value.forEach((item, i) => def.items && walkSchema(item, def.items, defName, `${path}[${i}]`, problems));
      return;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return typeError(schema.$ref ? `structs.${refName}` : goName);
      const record = value as Record<string, unknown>;
      for (const [key, child] of Object.entries(record)) {
        const childPath = `${path ? path : refName}.${key}`;
        const prop = def.properties?.[key] ?? def.additionalProperties;
        if (prop) {
          walkSchema(child, prop, schema.$ref ? refName : defName, childPath, problems);
        } else {
          const caseMatch = Object.keys(def.properties ?? {}).find((k) => k.toLowerCase() === key.toLowerCase());
          problems.standin ??= `gitea-standin: unknown field "${key}" in ${refName}${caseMatch ? ` (Gitea would quietly read it as "${caseMatch}")` : ' (Gitea would silently ignore it)'}`;
        }
      }
      return;
    }
    default:
      return;
  }
}

/** Gitea's `binding` rules (gitea.com/go-chi/binding + modules/validation), in Go struct order: first failure wins. */
function checkBindingRules(defName: string, body: Record<string, unknown>): string | null {
  for (const { json, go, rules, absentIsZero } of swaggerSubset.bindingRules[defName] ?? []) {
    const raw = body[json] ?? (absentIsZero ? '' : undefined);
    const present = raw !== undefined && raw !== null;
    const str = typeof raw === 'string' ? raw : '';
    if (rules.includes('OmitEmpty') && str === '') continue;
    for (const rule of rules) {
      const fail = (() => {
        if (rule === 'Required') return !present || raw === '' || raw === 0 || raw === false ? 'Required' : null;
        if (!present) return null; // optional rules only look at values that were sent
        if (rule === 'AlphaDashDot') return /[^\w\-.]/.test(str) ? 'AlphaDashDot' : null;
        if (rule.startsWith('MaxSize(')) return [...str].length > Number(rule.slice(8, -1)) ? 'MaxSize' : null;
        if (rule === 'Username') {
          const ok = /^[\da-zA-Z][-.\w]*$/.test(str) && !/[-._]{2,}|[-._]$/.test(str);
          return ok ? null : 'invalid username';
        }
        if (rule === 'ValidUrl') {
          if (str === '') return null;
          try {
            const u = new URL(str);
            return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'Url';
          } catch {
            return 'Url';
          }
        }
        if (rule.startsWith('In(')) return rule.slice(3, -1).split(',').includes(str) ? null : 'In';
        // Gitea's validation: an address net/mail parses, without a display name; a git ref name git accepts
        if (rule === 'Email') return /^[^\s@<>"]+@[^\s@<>"]+$/.test(str) ? null : 'Email';
        if (rule === 'GitRefName') return str === '' || (!/[\s~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock$|^\.|\/\./.test(str)) ? null : 'GitRefName';
        return null;
      })();
      if (fail) return `[${go}]: ${fail}`;
    }
  }
  return null;
}

/**
 * Validate a JSON request body for `defName`. Throws HttpError(422) with Gitea's message when Gitea would reject
 * it, or with a "gitea-standin:" message when only the stand-in's stricter checks fail.
 */
export function validateBody(defName: string, contentType: string | undefined, raw: Buffer): Record<string, unknown> {
  // Gitea (go-chi/binding Bind): POST/PUT/PATCH must say what they send; only JSON fits these option structs.
  if (!contentType) throw new HttpError(422, '[]: Empty Content-Type');
  if (!contentType.includes('json')) {
    if (contentType.includes('form-urlencoded') || contentType.includes('multipart/form-data')) {
      throw new HttpError(422, `gitea-standin: only JSON bodies are modelled; send Content-Type: application/json (got ${contentType})`);
    }
    throw new HttpError(422, '[]: Unsupported Content-Type');
  }
  const text = raw.toString('utf8');
  // stand-in: Gitea 1.26 was reported to refuse empty JSON bodies (clients had to send "{}"); whether 1.27 still
  // does was not verified, so the stand-in refuses them with its own message
  if (text.trim() === '') throw new HttpError(422, `gitea-standin: empty body for ${defName}; send a JSON object ("{}" when there is nothing to say)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(422, `[]: invalid JSON: ${(err as Error).message}`);
  }
  const problems: BodyProblems = { gitea: null, standin: null };
  walkSchema(value, { $ref: `#/definitions/${defName}` }, defName, '', problems);
  if (problems.gitea) throw new HttpError(422, problems.gitea);
  const body = value as Record<string, unknown>;
  const ruleError = checkBindingRules(defName, body);
  if (ruleError) throw new HttpError(422, ruleError);
  // swagger "required" not already covered by a Gitea Required rule
  for (const name of swaggerSubset.definitions[defName]?.required ?? []) {
    if (body[name] === undefined || body[name] === null) problems.standin ??= `gitea-standin: ${defName}.${name} is required by the swagger`;
  }
  if (problems.standin) throw new HttpError(422, problems.standin);
  return body;
}

/** Stand-in only: query parameters must be declared by the operation and well-typed (Gitea ignores or zeroes bad ones). */
function validateQuery(op: Operation, query: URLSearchParams): void {
  for (const [key, value] of query) {
    if (key === 'token' || key === 'access_token') {
      throw new HttpError(422, `gitea-standin: "${key}" in the query string is a deprecated Gitea auth method; send the token in the Authorization header`);
    }
    const param = op.parameters.find((p) => p.in === 'query' && p.name === key);
    if (!param) throw new HttpError(422, `gitea-standin: query parameter "${key}" is not declared for ${op.operationId} (Gitea would ignore it)`);
    if (param.type === 'integer' && !/^-?\d+$/.test(value)) throw new HttpError(422, `gitea-standin: query parameter "${key}" must be an integer (Gitea would read it as 0)`);
    if (param.type === 'boolean' && parseGoBool(value) === undefined) throw new HttpError(422, `gitea-standin: query parameter "${key}" must be a boolean (Gitea would read it as false)`);
    if (param.enum && !param.enum.includes(value)) throw new HttpError(422, `gitea-standin: query parameter "${key}" must be one of [${param.enum.join(', ')}] (Gitea would ignore the value)`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON shapes of Gitea structs (modules/structs), keys in Go struct order like Gitea's encoder writes them
// ---------------------------------------------------------------------------------------------------------------

export interface UserShapeInput { id: number; login: string; fullName?: string; email?: string; visibility?: string; admin?: boolean; created?: Date; description?: string; website?: string; location?: string }

/** A User as Gitea shows it (services/convert/user.go); `full` is what admins and the user see about themselves. */
export function userJson(baseUrl: string, u: UserShapeInput, full = false): Record<string, unknown> {
  const created = goTime(u.created ?? new Date(FIXED_EPOCH * 1000));
  return {
    id: u.id,
    login: u.login,
    login_name: '',
    source_id: 0,
    full_name: u.fullName ?? '',
    // Gitea hides the address from anonymous callers and shows a no-reply placeholder instead
    email: full && u.email ? u.email : `${u.login.toLowerCase()}@noreply.localhost`,
    avatar_url: `${baseUrl}/avatars/${createHash('md5').update(u.login.toLowerCase()).digest('hex')}`,
    html_url: `${baseUrl}/${u.login}`,
    language: '',
    is_admin: full ? Boolean(u.admin) : false,
    last_login: full ? created : ZERO_TIME,
    created,
    restricted: false,
    active: full,
    prohibit_login: false,
    location: u.location ?? '',
    website: u.website ?? '',
    description: u.description ?? '',
    visibility: u.visibility ?? 'public',
    followers_count: 0,
    following_count: 0,
    starred_repos_count: 0,
  };
}

export interface RepositoryShapeInput {
  id: number;
  owner: UserShapeInput;
  name: string;
  description?: string;
  private?: boolean;
  empty?: boolean;
  template?: boolean;
  mirror?: boolean;
  mirrorInterval?: string;
  originalUrl?: string;
  website?: string;
  defaultBranch?: string;
  archived?: boolean;
  created?: Date;
  updated?: Date;
  /** Caller's permission; omitted from the JSON when null. */
  permissions?: { admin: boolean; push: boolean; pull: boolean } | null;
}

/** A Repository as Gitea shows it (services/convert/repository.go), with Gitea's defaults for a new repository. */
export function repositoryJson(baseUrl: string, r: RepositoryShapeInput, settings: Record<string, unknown> = {}): Record<string, unknown> {
  const host = new URL(baseUrl).hostname;
  const full = `${r.owner.login}/${r.name}`;
  const created = goTime(r.created ?? new Date(FIXED_EPOCH * 1000));
  const setting = <T>(key: string, fallback: T): T => (settings[key] === undefined ? fallback : (settings[key] as T));
  return {
    id: r.id,
    owner: userJson(baseUrl, r.owner),
    name: r.name,
    full_name: full,
    description: r.description ?? '',
    empty: Boolean(r.empty),
    private: Boolean(r.private),
    fork: false,
    template: Boolean(r.template),
    mirror: Boolean(r.mirror),
    size: 0,
    language: '',
    languages_url: `${baseUrl}${API_BASE}/repos/${full}/languages`,
    html_url: `${baseUrl}/${full}`,
    url: `${baseUrl}${API_BASE}/repos/${full}`,
    link: '',
    ssh_url: `git@${host}:${full}.git`,
    clone_url: `${baseUrl}/${full}.git`,
    original_url: r.originalUrl ?? '',
    website: r.website ?? '',
    stars_count: 0,
    forks_count: 0,
    watchers_count: 0,
    branch_count: 0,
    open_issues_count: 0,
    open_pr_counter: 0,
    release_counter: 0,
    default_branch: r.defaultBranch ?? 'main',
    archived: Boolean(r.archived),
    created_at: created,
    updated_at: goTime(r.updated ?? r.created ?? new Date(FIXED_EPOCH * 1000)),
    archived_at: r.archived ? goTime(r.updated ?? new Date()) : '1970-01-01T00:00:00Z',
    ...(r.permissions ? { permissions: r.permissions } : {}),
    has_code: setting('has_code', true),
    has_issues: setting('has_issues', true),
    internal_tracker: { enable_time_tracker: true, allow_only_contributors_to_track_time: true, enable_issue_dependencies: true },
    has_wiki: setting('has_wiki', true),
    has_pull_requests: setting('has_pull_requests', true),
    has_projects: setting('has_projects', true),
    projects_mode: setting('projects_mode', 'all'),
    has_releases: setting('has_releases', true),
    has_packages: setting('has_packages', true),
    has_actions: setting('has_actions', true),
    ignore_whitespace_conflicts: setting('ignore_whitespace_conflicts', false),
    allow_merge_commits: setting('allow_merge_commits', true),
    allow_rebase: setting('allow_rebase', true),
    allow_rebase_explicit: setting('allow_rebase_explicit', true),
    allow_squash_merge: setting('allow_squash_merge', true),
    allow_fast_forward_only_merge: setting('allow_fast_forward_only_merge', true),
    allow_merge_update: setting('allow_merge_update', true),
    allow_rebase_update: setting('allow_rebase_update', true),
    allow_manual_merge: setting('allow_manual_merge', false),
    autodetect_manual_merge: setting('autodetect_manual_merge', false),
    default_delete_branch_after_merge: setting('default_delete_branch_after_merge', false),
    default_merge_style: setting('default_merge_style', 'merge'),
    default_update_style: setting('default_update_style', 'merge'),
    default_allow_maintainer_edit: setting('default_allow_maintainer_edit', false),
    avatar_url: '',
    internal: false,
    mirror_interval: r.mirrorInterval ?? '',
    object_format_name: 'sha1',
    mirror_updated: r.mirror ? goTime(r.updated ?? new Date()) : ZERO_TIME,
    mirror_last_sync_at: r.mirror ? goTime(r.updated ?? new Date()) : ZERO_TIME,
    topics: [],
    licenses: [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

/**
 * Start a stand-in on 127.0.0.1 with a free port. It runs inside the test process, so talk to it (and run git
 * against it) asynchronously: a synchronous child process such as execFileSync('git', …) blocks the event loop
 * that serves the request and never returns.
 */
export async function startGiteaStandIn(opts: GiteaStandInOptions): Promise<GiteaStandIn> {
  const root = await mkdtemp(join(tmpdir(), 'gitea-standin-'));
  const reposRoot = join(root, 'repos');
  const home = join(root, 'home');
  await mkdir(reposRoot, { recursive: true });
  await mkdir(home, { recursive: true });
  await writeFile(join(home, '.gitconfig'), '');

  const children = new Set<ChildProcess>();
  const background = new Set<Promise<unknown>>();
  const owners = new Map<string, Owner>();
  const repos = new Map<string, Repo>();
  const tokens = new Map<string, string>();
  const faultRules: Array<{ rule: FaultRule; remaining: number; matches: (p: string) => boolean }> = [];
  const statuses: RecordedStatus[] = [];
  const requests: RecordedRequest[] = [];
  const mirrorSyncs: RecordedMirrorSync[] = [];
  let nextOwnerId = 1;
  let nextRepoId = 1;
  let baseUrl = '';
  let closing = false;

  // git never reads the user's or the system's configuration, never prompts
  const gitEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: join(home, '.gitconfig'),
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
    LC_ALL: 'C',
  };

  function git(args: string[], o: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: o.cwd, env: { ...gitEnv, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code) => {
        children.delete(child);
        resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input ?? '');
    });
  }
  async function gitOk(args: string[], o: Parameters<typeof git>[1] = {}): Promise<string> {
    const r = await git(args, o);
    if (r.code !== 0) throw new Error(`git ${args[0]} failed (${r.code}): ${sanitizeCredentials(r.stderr.trim())}`);
    return r.stdout.toString('utf8');
  }

  // --- owners and repositories --------------------------------------------------------------------------------

  function ensureOwner(login: string, kind: Owner['kind'], extra: Partial<Owner> = {}): Owner {
    const existing = owners.get(login.toLowerCase());
    if (existing) return existing;
    const owner: Owner = {
      id: nextOwnerId++, login, kind, fullName: '', email: kind === 'user' ? `${login.toLowerCase()}@example.invalid` : '',
      visibility: 'public', description: '', website: '', location: '', repoAdminChangeTeamAccess: false,
      admin: (opts.admins ?? []).includes(login), created: new Date(), ...extra,
    };
    owners.set(login.toLowerCase(), owner);
    return owner;
  }
  const tokenEntries = Array.isArray(opts.tokens) ? (opts.tokens as readonly string[]).map((t) => [t, opts.login ?? 'ci-bot'] as const) : Object.entries(opts.tokens);
  for (const [token, login] of tokenEntries) {
    tokens.set(token, login);
    ensureOwner(login, 'user');
  }
  for (const [login, u] of Object.entries(opts.users ?? {})) {
    const owner = ensureOwner(login, 'user', { email: u.email ?? `${login.toLowerCase()}@example.invalid`, admin: Boolean(u.admin) || (opts.admins ?? []).includes(login) });
    Object.assign(owner, { password: u.password, mustChangePassword: false, allowCreateOrganization: true });
  }
  /** Tokens created through the API, by their secret. */
  const apiTokens = new Map<string, StandInToken>();
  const teams: StandInTeam[] = [];
  const protections: StandInProtection[] = [];
  let nextTokenId = 1;
  let nextTeamId = 1;

  const repoKey = (owner: string, name: string) => `${owner.toLowerCase()}/${name.toLowerCase()}`;
  function findRepo(owner: string, name: string): Repo | undefined {
    return repos.get(repoKey(owner, name.replace(/\.git$/, '')));
  }
  function mustRepo(owner: string, name: string): Repo {
    const repo = findRepo(owner, name);
    if (!repo) throw new Error(`gitea-standin: no repository ${owner}/${name}`);
    return repo;
  }

  async function createRepoDir(owner: Owner, name: string): Promise<string> {
    const dir = join(reposRoot, owner.login.toLowerCase(), `${name.toLowerCase()}.git`);
    await mkdir(join(reposRoot, owner.login.toLowerCase()), { recursive: true });
    return dir;
  }

  function newRepo(owner: Owner, name: string, dir: string, init: Partial<Repo>): Repo {
    const now = new Date();
    const repo: Repo = {
      id: nextRepoId++, owner, name, dir, private: false, description: '', website: '', defaultBranch: 'main', archived: false,
      template: false, mirror: false, mirrorIntervalNs: 0, enablePrune: true, originalUrl: '', created: now, updated: now,
      commitCount: 0, settings: {}, statuses: [], ...init,
    };
    repos.set(repoKey(owner.login, name), repo);
    return repo;
  }

  /**
   * Commit `files` on top of `branch` with plumbing commands (a bare repository has no work tree). A branch that
   * does not exist yet starts from the head of the default branch, like `git switch -c` would.
   */
  async function writeCommit(repo: Repo, files: Record<string, string | null>, message: string, branch: string): Promise<string> {
    const parent = (await resolveCommit(repo, `refs/heads/${branch}`)) ?? (await resolveCommit(repo, `refs/heads/${repo.defaultBranch}`));
    const oldValue = (await resolveCommit(repo, `refs/heads/${branch}`)) ?? '0'.repeat(40);
    const indexEnv = { GIT_INDEX_FILE: join(root, `index-${randomBytes(6).toString('hex')}`) };
    await gitOk(parent ? ['read-tree', parent] : ['read-tree', '--empty'], { cwd: repo.dir, env: indexEnv });
    const lines: string[] = [];
    for (const [path, content] of Object.entries(files)) {
      if (!path || path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new Error(`gitea-standin: bad file path ${JSON.stringify(path)}`);
      if (content === null) {
        lines.push(`0 ${'0'.repeat(40)}\t${path}`);
      } else {
        const blob = (await gitOk(['hash-object', '-w', '--stdin'], { cwd: repo.dir, input: content })).trim();
        lines.push(`100644 ${blob}\t${path}`);
      }
    }
    await gitOk(['update-index', '--index-info'], { cwd: repo.dir, env: indexEnv, input: lines.join('\n') + '\n' });
    const tree = (await gitOk(['write-tree'], { cwd: repo.dir, env: indexEnv })).trim();
    await rm(indexEnv.GIT_INDEX_FILE, { force: true });
    const date = `${FIXED_EPOCH + repo.commitCount} +0000`;
    repo.commitCount++;
    const sha = (
      await gitOk(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message], {
        cwd: repo.dir,
        env: {
          GIT_AUTHOR_NAME: FIXED_AUTHOR.name, GIT_AUTHOR_EMAIL: FIXED_AUTHOR.email, GIT_AUTHOR_DATE: date,
          GIT_COMMITTER_NAME: FIXED_AUTHOR.name, GIT_COMMITTER_EMAIL: FIXED_AUTHOR.email, GIT_COMMITTER_DATE: date,
        },
      })
    ).trim();
    await gitOk(['update-ref', `refs/heads/${branch}`, sha, oldValue], { cwd: repo.dir });
    repo.updated = new Date();
    return sha;
  }

  async function branches(repo: Repo): Promise<string[]> {
    const out = await gitOk(['for-each-ref', '--format=%(refname:strip=2)', 'refs/heads/'], { cwd: repo.dir });
    return out.split('\n').filter(Boolean);
  }

  /** Gitea's gitRepo.GetCommit: any revision git can resolve (full or short SHA, branch, tag) to a commit. */
  async function resolveCommit(repo: Repo, rev: string): Promise<string | null> {
    if (!rev || rev.startsWith('-')) return null;
    const r = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], { cwd: repo.dir });
    return r.code === 0 ? r.stdout.toString().trim() : null;
  }

  // --- shapes that need the live model ------------------------------------------------------------------------

  const userShape = (o: Owner): UserShapeInput => ({
    id: o.id, login: o.login, fullName: o.fullName, email: o.email, visibility: o.visibility, admin: o.admin, created: o.created,
    description: o.description, website: o.website, location: o.location,
  });

  async function repoJson(repo: Repo, caller: Owner | null): Promise<Record<string, unknown>> {
    const empty = (await branches(repo)).length === 0;
    return repositoryJson(baseUrl, {
      id: repo.id, owner: userShape(repo.owner), name: repo.name, description: repo.description, private: repo.private, empty,
      template: repo.template, mirror: repo.mirror, mirrorInterval: repo.mirror ? formatGoDuration(repo.mirrorIntervalNs) : '',
      originalUrl: repo.originalUrl, website: repo.website, defaultBranch: repo.defaultBranch, archived: repo.archived,
      created: repo.created, updated: repo.updated,
      // stand-in: every signed-in user has full access; anonymous callers can only read public repositories
      permissions: caller ? { admin: true, push: true, pull: true } : { admin: false, push: false, pull: true },
    }, repo.settings);
  }

  function orgJson(o: Owner, caller: Owner | null): Record<string, unknown> {
    return {
      id: o.id, name: o.login, full_name: o.fullName, email: caller ? o.email : '',
      avatar_url: `${baseUrl}/avatars/${createHash('md5').update(o.login.toLowerCase()).digest('hex')}`,
      description: o.description, website: o.website, location: o.location, visibility: o.visibility,
      repo_admin_change_team_access: o.repoAdminChangeTeamAccess, username: o.login,
    };
  }

  function statusJson(repo: Repo, s: StoredStatus, caller: Owner | null): Record<string, unknown> {
    return {
      id: s.index, // Gitea shows the per-commit index here, not the database id
      status: s.state,
      target_url: s.targetUrl,
      description: s.description,
      url: `${baseUrl}${API_BASE}/repos/${repo.owner.login}/${repo.name}/statuses/${s.sha}`,
      context: s.context,
      creator: userJson(baseUrl, userShape(s.creator), caller?.id === s.creator.id || Boolean(caller?.admin)),
      created_at: goTime(s.created),
      updated_at: goTime(s.created),
    };
  }

  // --- auth ---------------------------------------------------------------------------------------------------

  /** Gitea's auth group (OAuth2 token header, then Basic with the token as username or password). */
  function authenticate(req: IncomingMessage): Caller {
    const cred = parseAuthorization(req.headers.authorization);
    if (cred.scheme === 'none') return { scheme: 'none', ok: null, user: null };
    const byToken = (secret: string): Caller | null => {
      const given = tokens.get(secret);
      if (given) {
        const user = owners.get(given.toLowerCase()) ?? null;
        return { scheme: cred.scheme, ok: Boolean(user), user, scopes: null };
      }
      const made = apiTokens.get(secret);
      if (made) {
        const user = owners.get(made.owner.toLowerCase()) ?? null;
        return { scheme: cred.scheme, ok: Boolean(user), user, scopes: made.scopes };
      }
      return null;
    };
    if (cred.scheme === 'basic') {
      const usernameIsToken = cred.password === '' || cred.password === 'x-oauth-basic';
      if (usernameIsToken) return byToken(cred.user) ?? { scheme: 'basic', ok: false, user: null };
      // Gitea's basic method: the password may be a token (whatever the user name), else the user's password
      const asToken = byToken(cred.password);
      if (asToken) return asToken;
      const user = owners.get(cred.user.toLowerCase());
      const ok = Boolean(user && user.kind === 'user' && typeof user.password === 'string' && user.password === cred.password);
      return { scheme: 'basic', ok, user: ok ? user! : null, scopes: null };
    }
    return byToken(cred.token) ?? { scheme: cred.scheme, ok: false, user: null };
  }

  /** Gitea's tokenRequiresScopes: the route's category (admin, user, organization, repository); GET reads, the rest writes. */
  function requireScope(caller: Caller, path: string, method: string): void {
    if (!caller.scopes) return;
    const category = /^\/admin(\/|$)/.test(path) ? 'admin' : /^\/users?(\/|$)/.test(path) ? 'user' : /^\/(orgs|teams)(\/|$)/.test(path) ? 'organization' : /^\/repos(\/|$)/.test(path) ? 'repository' : null;
    if (!category) return;
    const level = method === 'GET' ? 'read' : 'write';
    const s = caller.scopes;
    if (s.includes('all') || s.includes(`write:${category}`) || (level === 'read' && s.includes(`read:${category}`))) return;
    throw new HttpError(403, `token does not have at least one of required scope(s), required=[${level}:${category}], token scope=${s.join(',')}`);
  }

  // --- request plumbing ---------------------------------------------------------------------------------------

  function readBody(req: IncomingMessage, limit = 10 * 1024 * 1024): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      req.on('data', (b: Buffer) => {
        size += b.length;
        if (size > limit) reject(new HttpError(413, 'request body too large'));
        else parts.push(b);
      });
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });
  }

  const swaggerUrl = () => `${baseUrl}/api/swagger`;
  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': JSON_TYPE, 'x-content-type-options': 'nosniff', ...headers });
    res.end(JSON.stringify(body));
  }
  /** Gitea's APIError body: {"message", "url"} with the swagger URL. */
  function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    sendJson(res, status, { message, url: swaggerUrl() }, headers);
  }
  function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
    res.end(text);
  }

  // --- API routing ----------------------------------------------------------------------------------------------

  type Ctx = { req: IncomingMessage; res: ServerResponse; params: Record<string, string>; query: URLSearchParams; caller: Caller; op: Operation };
  type Handler = (ctx: Ctx) => Promise<void>;

  const served: Record<string, Handler> = {
    repoCreateStatus: createStatus,
    repoListStatuses: listStatuses,
    repoGetContents: getContents,
    repoGet: getRepo,
    repoEdit: editRepo,
    repoGetAllCommits: listCommits,
    repoMigrate: migrate,
    repoMirrorSync: mirrorSync,
    orgGet: getOrg,
    orgListRepos: listOrgRepos,
    orgCreate: createOrg,
    userGetCurrent: getCurrentUser,
    userGet: getUser,
    adminCreateUser: adminCreateUser,
    adminEditUser: adminEditUser,
    userCreateToken: createToken,
    userGetTokens: listTokens,
    userDeleteAccessToken: deleteToken,
    createOrgRepo: createOrgRepo,
    teamSearch: searchTeams,
    orgCreateTeam: createTeam,
    orgEditTeam: editTeam,
    orgAddTeamMember: addTeamMember,
    repoGetBranchProtection: getProtection,
    repoCreateBranchProtection: createProtection,
    repoEditBranchProtection: editProtection,
  };

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, rec: RecordedRequest): Promise<void> {
    // Gitea normalizes the path first: no trailing slash, no repeated slashes (modules/web/router.go)
    const path = url.pathname.slice(API_BASE.length).replace(/\/{2,}/g, '/').replace(/\/$/, '') || '/';
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET'; // Gitea answers HEAD like GET
    const candidates = swaggerSubset.operations
      .map((op) => ({ op, params: matchTemplate(op.path, path) }))
      .filter((c): c is { op: Operation; params: Record<string, string> } => c.params !== null)
      .sort((a, b) => specificity(b.op.path) - specificity(a.op.path));
    const hit = candidates.find((c) => c.op.method === method);
    if (!hit) {
      // Not served. Does Gitea 1.27 have this route at all?
      const known = Object.entries(swaggerSubset.routeIndex).filter(([template]) => matchTemplate(template, path));
      if (known.length === 0) return sendText(res, 404, '404 page not found\n'); // Gitea: chi falls through to http.NotFound
      const methods = [...new Set(known.flatMap(([, ms]) => ms))];
      if (!methods.includes(method)) {
        // Gitea: chi's 405 with an Allow header and an empty body
        res.writeHead(405, { allow: methods.join(', ') });
        return void res.end();
      }
      return sendError(res, 501, `gitea-standin: ${method} ${API_BASE}${known[0]![0]} exists in Gitea 1.27 but this stand-in does not serve it`);
    }
    rec.operationId = hit.op.operationId;
    // Gitea: authentication runs after routing; bad credentials are refused even where anonymous access is fine
    const caller = authenticate(req);
    Object.assign(rec, { auth: caller.scheme, authOk: caller.ok, user: caller.user?.login ?? null });
    if (caller.ok === false) return sendError(res, 401, 'invalid username, password or token');
    if (opts.requireSignInView && !caller.user) return sendJson(res, 403, { message: 'Only signed in user is allowed to call APIs.' });
    // Gitea (api.go verifyAuthWithOptions): a user who must change the password may not use the API
    if (caller.user?.mustChangePassword) return sendJson(res, 403, { message: `You must change your password. Change it at: ${baseUrl}/user/change_password` });
    requireScope(caller, path, method);
    validateQuery(hit.op, url.searchParams);
    await served[hit.op.operationId]!({ req, res, params: hit.params, query: url.searchParams, caller, op: hit.op });
  }

  /** Gitea's repoAssignment: unknown repositories and private ones the caller cannot see are both "not found". */
  function assignRepo(ctx: Ctx): Repo {
    const repo = findRepo(ctx.params.owner!, ctx.params.repo!);
    if (!repo || (repo.private && !ctx.caller.user)) throw new HttpError(404, 'not found');
    return repo;
  }
  /** Gitea's reqToken: writes need a signed-in caller. */
  function requireToken(ctx: Ctx): Owner {
    if (!ctx.caller.user) throw new HttpError(401, 'token is required');
    return ctx.caller.user;
  }
  async function bindBody(ctx: Ctx): Promise<Record<string, unknown>> {
    const schema = ctx.op.parameters.find((p) => p.in === 'body')?.schema;
    const defName = schema?.$ref?.split('/').pop();
    if (!defName) throw new Error(`gitea-standin: ${ctx.op.operationId} has no body schema`);
    return validateBody(defName, ctx.req.headers['content-type'], await readBody(ctx.req));
  }
  function listOptions(query: URLSearchParams): { page: number; size: number } {
    const page = Math.max(1, Number(query.get('page') ?? '1') || 1);
    const limit = Number(query.get('limit') ?? '0') || 0;
    return { page, size: limit <= 0 ? DEFAULT_PAGE_SIZE : Math.min(limit, MAX_PAGE_SIZE) };
  }

  // POST /repos/{owner}/{repo}/statuses/{sha}
  async function createStatus(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    const user = requireToken(ctx);
    const body = await bindBody(ctx);
    const sha = await resolveCommit(repo, ctx.params.sha!);
    if (!sha) {
      // Gitea: CreateCommitStatus fails in GetCommit and the handler answers 500; the message is only shown to
      // admins (RUN_MODE=prod), so a normal token sees an empty message.
      const detail = `GetCommit[${ctx.params.sha}]: object does not exist [id: ${ctx.params.sha}, rel_path: ]`;
      throw new HttpError(500, user.admin ? detail : '', { 'x-gitea-standin-note': detail });
    }
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    const stored: StoredStatus = {
      index: repo.statuses.filter((s) => s.sha === sha).length + 1,
      sha,
      state: str('state'),
      // Gitea trims these before storing (models/git NewCommitStatus)
      targetUrl: str('target_url').trim(),
      description: str('description').trim(),
      context: str('context').trim(),
      creator: user,
      created: new Date(),
    };
    repo.statuses.push(stored);
    statuses.push({
      owner: repo.owner.login, repo: repo.name, sha, state: stored.state, targetUrl: stored.targetUrl, description: stored.description,
      context: stored.context, body, creator: user.login, time: stored.created,
    });
    sendJson(ctx.res, 201, statusJson(repo, stored, user));
  }

  // GET /repos/{owner}/{repo}/statuses/{sha}
  async function listStatuses(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    const sha = (await resolveCommit(repo, ctx.params.sha!)) ?? ctx.params.sha!;
    const sort = ctx.query.get('sort') ?? '';
    const state = ctx.query.get('state');
    let list = repo.statuses.filter((s) => s.sha === sha && (!state || s.state === state));
    const byTime = (a: StoredStatus, b: StoredStatus) => a.created.getTime() - b.created.getTime() || a.index - b.index;
    list = sort === 'oldest' || sort === 'leastupdate' ? [...list].sort(byTime)
      : sort === 'leastindex' ? [...list].sort((a, b) => b.index - a.index)
      : sort === 'highestindex' ? [...list].sort((a, b) => a.index - b.index)
      : [...list].sort((a, b) => byTime(b, a)); // default and "recentupdate": newest first
    const { page, size } = listOptions(ctx.query);
    sendJson(ctx.res, 200, list.slice((page - 1) * size, page * size).map((s) => statusJson(repo, s, ctx.caller.user)), {
      'x-total-count': String(list.length),
    });
  }

  /** Gitea's ResolveRefCommit: branch, then tag, then something that looks like a commit id; otherwise 404. */
  async function resolveRef(repo: Repo, inputRef: string): Promise<{ sha: string; kind: 'branch' | 'tag' | 'commit'; name: string }> {
    const notFound = new HttpError(404, `object does not exist [id: ${inputRef}, rel_path: ]`);
    const has = async (ref: string) => (await git(['show-ref', '--verify', '--quiet', ref], { cwd: repo.dir })).code === 0;
    let kind: 'branch' | 'tag' | 'commit';
    if (await has(`refs/heads/${inputRef}`)) kind = 'branch';
    else if (await has(`refs/tags/${inputRef}`)) kind = 'tag';
    else if (/^[0-9a-f]{7,40}$/i.test(inputRef)) kind = 'commit';
    else throw notFound;
    const prefix = kind === 'branch' ? 'refs/heads/' : kind === 'tag' ? 'refs/tags/' : '';
    const sha = await resolveCommit(repo, prefix + inputRef);
    if (!sha) throw notFound;
    return { sha, kind, name: inputRef };
  }

  // GET /repos/{owner}/{repo}/contents/{filepath}
  async function getContents(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    const inputRef = ctx.query.get('ref')?.trim() || repo.defaultBranch;
    const ref = await resolveRef(repo, inputRef);
    // Gitea cleans the tree path (util.PathJoinRel: "." dropped, ".." cannot climb out); one that cleans to
    // nothing is an invalid argument (400)
    const segments: string[] = [];
    for (const s of ctx.params.filepath!.split('/')) {
      if (s === '..') segments.pop();
      else if (s && s !== '.') segments.push(s);
    }
    const treePath = segments.join('/');
    if (!treePath) throw new HttpError(400, `path contains a malformed path component [path: ${ctx.params.filepath}]`);
    const entries = await lsTree(repo, ref.sha, treePath);
    const self = entries.find((e) => e.path === treePath);
    if (!self) throw new HttpError(404, `object does not exist [id: , rel_path: ${treePath}]`);
    if (self.type !== 'tree') return sendJson(ctx.res, 200, await contentsJson(repo, ref, inputRef, self, true));
    const children = await lsTree(repo, ref.sha, `${treePath}/`);
    const list = [];
    for (const child of children) list.push(await contentsJson(repo, ref, inputRef, child, false));
    sendJson(ctx.res, 200, list);
  }

  interface TreeEntry { mode: string; type: string; sha: string; size: number; path: string }
  async function lsTree(repo: Repo, sha: string, path: string): Promise<TreeEntry[]> {
    const out = await gitOk(['ls-tree', '-l', '-z', sha, '--', path], { cwd: repo.dir });
    return out.split('\0').filter(Boolean).map((line) => {
      const [meta, p] = line.split('\t') as [string, string];
      const [mode, type, objSha, size] = meta.split(/\s+/) as [string, string, string, string];
      return { mode, type, sha: objSha, size: size === '-' ? 0 : Number(size), path: p };
    });
  }

  /** A ContentsResponse (services/repository/files/content.go), keys in Go struct order. */
  async function contentsJson(repo: Repo, ref: { sha: string; kind: string; name: string }, inputRef: string, e: TreeEntry, withContent: boolean): Promise<Record<string, unknown>> {
    const full = `${repo.owner.login}/${repo.name}`;
    const escaped = e.path.split('/').map(encodeURIComponent).join('/');
    const webRef = `${ref.kind}/${ref.kind === 'commit' ? ref.sha : ref.name.split('/').map(encodeURIComponent).join('/')}`;
    const self = `${baseUrl}${API_BASE}/repos/${full}/contents/${escaped}?ref=${encodeURIComponent(inputRef)}`;
    const [last = '', committerDate = '', authorDate = ''] = (await gitOk(['log', '-1', '--format=%H%x1f%cI%x1f%aI', ref.sha, '--', e.path], { cwd: repo.dir })).trim().split('\x1f');
    const type = e.type === 'tree' ? 'dir' : e.type === 'commit' ? 'submodule' : e.mode === '120000' ? 'symlink' : 'file';
    const blob = type === 'file' || type === 'symlink' ? await git(['cat-file', 'blob', e.sha], { cwd: repo.dir }) : null;
    const html = type === 'submodule' ? null : `${baseUrl}/${full}/src/${webRef}/${escaped}`;
    const gitUrl = type === 'submodule' ? null : `${baseUrl}${API_BASE}/repos/${full}/git/blobs/${e.sha}`;
    return {
      name: e.path.split('/').pop(),
      path: e.path,
      sha: e.sha,
      last_commit_sha: last,
      last_committer_date: gitIsoToGo(committerDate),
      last_author_date: gitIsoToGo(authorDate),
      type,
      size: e.size,
      encoding: type === 'file' && withContent ? 'base64' : null,
      content: type === 'file' && withContent ? blob!.stdout.toString('base64') : null,
      target: type === 'symlink' ? blob!.stdout.toString('utf8') : null,
      url: self,
      html_url: html,
      git_url: gitUrl,
      download_url: type === 'file' || type === 'symlink' ? `${baseUrl}/${full}/raw/${webRef}/${escaped}` : null,
      submodule_git_url: null,
      _links: { self, git: gitUrl, html },
    };
  }

  // GET /repos/{owner}/{repo}
  async function getRepo(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    sendJson(ctx.res, 200, await repoJson(repo, ctx.caller.user));
  }

  // PATCH /repos/{owner}/{repo}
  async function editRepo(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    requireToken(ctx);
    const body = await bindBody(ctx);
    if (typeof body.name === 'string' && body.name !== '' && body.name.toLowerCase() !== repo.name.toLowerCase()) {
      if (findRepo(repo.owner.login, body.name)) throw new HttpError(422, 'repo name is already taken');
      const dir = await createRepoDir(repo.owner, body.name);
      await rename(repo.dir, dir);
      repos.delete(repoKey(repo.owner.login, repo.name));
      Object.assign(repo, { dir, name: body.name });
      repos.set(repoKey(repo.owner.login, repo.name), repo);
    } else if (typeof body.name === 'string' && body.name !== '') {
      repo.name = body.name;
    }
    if (typeof body.default_branch === 'string' && body.default_branch !== repo.defaultBranch) {
      const list = await branches(repo);
      if (list.length > 0 && !list.includes(body.default_branch)) throw new HttpError(404, `branch does not exist [name: ${body.default_branch}]`);
      repo.defaultBranch = body.default_branch;
      await gitOk(['symbolic-ref', 'HEAD', `refs/heads/${body.default_branch}`], { cwd: repo.dir });
    }
    if (typeof body.description === 'string') repo.description = body.description;
    if (typeof body.website === 'string') repo.website = body.website;
    if (typeof body.private === 'boolean') repo.private = body.private;
    if (typeof body.template === 'boolean') repo.template = body.template;
    if (typeof body.archived === 'boolean') repo.archived = body.archived;
    // Gitea: mirror settings are ignored for a repository that is not a mirror
    if (repo.mirror && typeof body.mirror_interval === 'string') {
      const ns = parseGoDuration(body.mirror_interval);
      if (typeof ns !== 'number') throw new HttpError(422, ns.error);
      if (ns !== 0 && ns < MIN_MIRROR_INTERVAL_NS) throw new HttpError(422, `invalid mirror interval: ${formatGoDuration(ns)} is below minimum interval: ${formatGoDuration(MIN_MIRROR_INTERVAL_NS)}`);
      repo.mirrorIntervalNs = ns;
    }
    if (repo.mirror && typeof body.enable_prune === 'boolean') repo.enablePrune = body.enable_prune;
    const shownElsewhere = new Set(['name', 'default_branch', 'description', 'website', 'private', 'template', 'archived', 'mirror_interval', 'enable_prune', 'mirror_username', 'mirror_password', 'mirror_token']);
    for (const [k, v] of Object.entries(body)) if (!shownElsewhere.has(k) && v !== null) repo.settings[k] = v;
    repo.updated = new Date();
    sendJson(ctx.res, 200, await repoJson(repo, ctx.caller.user));
  }

  // GET /repos/{owner}/{repo}/commits
  async function listCommits(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    // Gitea validates since/until itself (routers/api/v1/repo/commits.go)
    for (const key of ['since', 'until']) {
      const v = ctx.query.get(key);
      if (v && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) throw new HttpError(422, `invalid '${key}' format, expected ISO 8601 (RFC3339)`);
    }
    if ((await branches(repo)).length === 0) return sendError(ctx.res, 409, 'Git Repository is empty.');
    const { page, size } = listOptions(ctx.query);
    const pageSize = Math.min(size, COMMITS_RANGE_SIZE);
    const sha = ctx.query.get('sha') ?? '';
    const path = ctx.query.get('path') ?? '';
    const not = ctx.query.get('not');
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const range = [...(since ? [`--since=${since}`] : []), ...(until ? [`--until=${until}`] : [])];
    let base: string;
    if (sha === '') {
      base = (await resolveCommit(repo, `refs/heads/${repo.defaultBranch}`)) ?? '';
    } else {
      // Gitea: GetCommit(sha) fails → APIErrorAuto → 404 with the git "not exist" message
      const resolved = await resolveCommit(repo, sha);
      if (!resolved) throw new HttpError(404, `object does not exist [id: ${sha}, rel_path: ]`);
      base = resolved;
    }
    const revs = [base, ...range, ...(not ? ['--not', not] : [])];
    const pathArgs = path ? ['--', path] : [];
    const total = Number((await gitOk(['rev-list', '--count', ...revs, ...pathArgs], { cwd: repo.dir })).trim());
    if (path && total === 0) throw new HttpError(404, 'not found');
    const perPage = path ? COMMITS_RANGE_SIZE : pageSize; // Gitea ignores `limit` when `path` is given
    const log = await gitOk(['log', `--skip=${(page - 1) * perPage}`, `-n${perPage}`, '--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1e', ...revs, ...pathArgs], { cwd: repo.dir });
    const flag = (k: string) => { const v = ctx.query.get(k); return v === null || v === '' || parseGoBool(v) === true; };
    const list = [];
    for (const record of log.split('\x1e').map((r) => r.replace(/^\n/, '')).filter(Boolean)) {
      const [id = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', message = ''] = record.split('\x1f');
      list.push(await commitJson(repo, { id, parents: parents.split(' ').filter(Boolean), an, ae, ad, cn, ce, cd, message }, { stat: flag('stat'), files: flag('files'), verification: flag('verification') }));
    }
    const pageCount = Math.ceil(total / perPage);
    sendJson(ctx.res, 200, list, {
      'x-total-count': String(total), 'x-page': String(page), 'x-perpage': String(perPage), 'x-total': String(total),
      'x-pagecount': String(pageCount), 'x-hasmore': String(page < pageCount),
    });
  }

  interface LogCommit { id: string; parents: string[]; an: string; ae: string; ad: string; cn: string; ce: string; cd: string; message: string }

  /** A Commit (services/convert/git_commit.go ToCommit), keys in Go struct order. */
  async function commitJson(repo: Repo, c: LogCommit, o: { stat: boolean; files: boolean; verification: boolean }): Promise<Record<string, unknown>> {
    const api = `${baseUrl}${API_BASE}/repos/${repo.owner.login}/${repo.name}`;
    const userByEmail = (email: string) => [...owners.values()].find((u) => u.kind === 'user' && u.email.toLowerCase() === email.toLowerCase());
    const author = userByEmail(c.ae);
    const committer = userByEmail(c.ce);
    const diffBase = c.parents[0] ?? '4b825dc642cb6eb9a060e54bf8d69288fbee4904'; // the empty tree for a root commit
    let files: Array<{ filename: string; status: string }> | null = null;
    if (o.files) {
      const out = await gitOk(['diff-tree', '-r', '--no-commit-id', '--name-status', '-z', diffBase, c.id], { cwd: repo.dir });
      const parts = out.split('\0').filter(Boolean);
      const grouped: Record<string, string[]> = { added: [], removed: [], modified: [] };
      for (let i = 0; i + 1 < parts.length; i += 2) {
        const kind = parts[i]!.startsWith('A') ? 'added' : parts[i]!.startsWith('D') ? 'removed' : 'modified';
        grouped[kind]!.push(parts[i + 1]!);
      }
      files = Object.entries(grouped).flatMap(([status, names]) => names.map((filename) => ({ filename, status })));
    }
    let stats: Record<string, number> | null = null;
    if (o.stat) {
      const out = await gitOk(['diff', '--numstat', diffBase, c.id], { cwd: repo.dir });
      let additions = 0;
      let deletions = 0;
      for (const line of out.split('\n').filter(Boolean)) {
        const [a, d] = line.split('\t');
        additions += Number(a) || 0;
        deletions += Number(d) || 0;
      }
      stats = { total: additions + deletions, additions, deletions };
    }
    return {
      url: `${api}/git/commits/${c.id}`,
      sha: c.id,
      created: gitIsoToGo(c.cd),
      html_url: `${baseUrl}/${repo.owner.login}/${repo.name}/commit/${c.id}`,
      commit: {
        url: `${api}/git/commits/${c.id}`,
        author: { name: c.an, email: c.ae, date: gitIsoToGo(c.ad) },
        committer: { name: c.cn, email: c.ce, date: gitIsoToGo(c.cd) },
        message: c.message,
        // Gitea fills the tree entry with the commit's own SHA and URL, not the tree's; mirrored here
        tree: { url: `${api}/git/trees/${c.id}`, sha: c.id, created: gitIsoToGo(c.cd) },
        verification: o.verification ? { verified: false, reason: 'gpg.error.not_signed_commit', signature: '', signer: null, payload: '' } : null,
      },
      author: author ? userJson(baseUrl, userShape(author)) : null,
      committer: committer ? userJson(baseUrl, userShape(committer)) : null,
      parents: c.parents.map((p) => ({ url: `${api}/git/commits/${p}`, sha: p, created: ZERO_TIME })),
      files,
      stats,
    };
  }

  // POST /repos/migrate
  async function migrate(ctx: Ctx): Promise<void> {
    const user = requireToken(ctx);
    const body = await bindBody(ctx);
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    // the owner: repo_owner, else the deprecated uid, else the caller
    let owner: Owner | undefined = user;
    if (str('repo_owner')) owner = owners.get(str('repo_owner').toLowerCase());
    else if (typeof body.uid === 'number' && body.uid !== 0) owner = [...owners.values()].find((o) => o.id === body.uid);
    if (!owner) throw new HttpError(422, `user does not exist [uid: ${typeof body.uid === 'number' ? body.uid : 0}, name: ${str('repo_owner')}]`);
    if (!user.admin && owner.kind === 'user' && owner.id !== user.id) throw new HttpError(403, 'Given user is not an organization.');
    const cloneAddr = str('clone_addr').trim();
    await checkCloneAddr(cloneAddr, user);
    if (findRepo(owner.login, str('repo_name'))) throw new HttpError(409, 'The repository with the same name already exists.');
    const mirror = body.mirror === true;
    let intervalNs = DEFAULT_MIRROR_INTERVAL_NS;
    if (mirror && str('mirror_interval')) {
      const ns = parseGoDuration(str('mirror_interval'));
      if (typeof ns !== 'number') throw new HttpError(422, ns.error); // stand-in: Gitea fails later, inside the migration
      intervalNs = ns;
    }
    // Credentials go into the clone URL, as Gitea's ParseRemoteAddr does; stand-in: auth_token is used as the
    // password when no password is given (Gitea's forge-specific migrators use it; plain git uses user/password).
    const source = new URL(cloneAddr);
    const password = str('auth_password') || str('auth_token');
    if (str('auth_username') || password) {
      source.username = encodeURIComponent(str('auth_username') || 'oauth2');
      source.password = encodeURIComponent(password);
    }
    const dir = await createRepoDir(owner, str('repo_name'));
    const clone = await git(['clone', '--quiet', mirror ? '--mirror' : '--bare', '--', source.toString(), dir], { env: { GIT_ASKPASS: 'true' } });
    if (clone.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      const err = sanitizeCredentials(clone.stderr.trim());
      // Gitea's handleMigrateError wording
      if (/Authentication failed|could not read Username|Bad credentials/.test(err)) throw new HttpError(422, `Authentication failed: ${err}.`);
      if (err.includes('fatal:')) throw new HttpError(422, `Migration failed: ${err}.`);
      throw new HttpError(500, '', { 'x-gitea-standin-note': err });
    }
    if (!mirror) await gitOk(['remote', 'remove', 'origin'], { cwd: dir }).catch(() => undefined);
    const head = (await git(['symbolic-ref', '--short', 'HEAD'], { cwd: dir })).stdout.toString().trim() || 'main';
    const repo = newRepo(owner, str('repo_name'), dir, {
      private: body.private === true, description: str('description'), mirror, mirrorIntervalNs: mirror ? intervalNs : 0,
      originalUrl: sanitizeCredentials(cloneAddr), defaultBranch: head,
    });
    sendJson(ctx.res, 201, await repoJson(repo, user));
  }

  /** Gitea's IsMigrateURLAllowed with default settings (no local paths for non-admins, no local networks). */
  async function checkCloneAddr(addr: string, user: Owner): Promise<void> {
    let u: URL;
    try {
      u = new URL(addr);
    } catch {
      // no scheme: a local path
      throw new HttpError(422, user.admin ? 'gitea-standin: local-path migrations are not modelled' : 'You are not allowed to import local repositories.');
    }
    if (u.protocol === 'file:') throw new HttpError(422, user.admin ? 'gitea-standin: local-path migrations are not modelled' : 'You are not allowed to import local repositories.');
    if (!['http:', 'https:', 'git:'].includes(u.protocol)) throw new HttpError(422, 'The provided URL is invalid.');
    if (opts.allowLocalNetworks) return;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const addrs = isIP(host) ? [host] : await lookup(host, { all: true }).then((r) => r.map((a) => a.address), () => []);
    if (addrs.some(isLocalAddress)) throw new HttpError(422, 'You can not import from disallowed hosts.');
  }

  // POST /repos/{owner}/{repo}/mirror-sync
  async function mirrorSync(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    requireToken(ctx);
    if (repo.archived) throw new HttpError(423, 'repo is archived'); // Gitea: mustNotBeArchived
    if (!repo.mirror) throw new HttpError(400, 'Repository is not a mirror');
    // Gitea queues the sync and answers at once; the stand-in fetches in the background (see settled())
    const entry: RecordedMirrorSync = { owner: repo.owner.login, repo: repo.name, time: new Date(), ok: null };
    mirrorSyncs.push(entry);
    const job = git(['fetch', '--quiet', ...(repo.enablePrune ? ['--prune'] : []), 'origin'], { cwd: repo.dir }).then((r) => {
      entry.ok = r.code === 0;
      if (r.code !== 0) entry.error = sanitizeCredentials(r.stderr.trim());
      else repo.updated = new Date();
    });
    background.add(job);
    void job.finally(() => background.delete(job));
    ctx.res.writeHead(200);
    ctx.res.end();
  }

  // GET /orgs/{org}
  async function getOrg(ctx: Ctx): Promise<void> {
    const org = owners.get(ctx.params.org!.toLowerCase());
    const visible = org && org.kind === 'org' && (org.visibility === 'public' || ctx.caller.user);
    if (!visible) throw new HttpError(404, 'not found');
    sendJson(ctx.res, 200, orgJson(org, ctx.caller.user));
  }

  // GET /orgs/{org}/repos
  async function listOrgRepos(ctx: Ctx): Promise<void> {
    const org = owners.get(ctx.params.org!.toLowerCase());
    // Gitea: an unknown organisation, or one the caller may not see, is "not found"
    if (!org || org.kind !== 'org' || (org.visibility !== 'public' && !ctx.caller.user)) throw new HttpError(404, 'not found');
    // stand-in: signed-in callers see every repository (permissions are not modelled); anonymous ones the public
    // ones. Ordered by id (Gitea orders by its search default; callers here must not depend on the order).
    const all = [...repos.values()].filter((r) => r.owner.id === org.id && (!r.private || ctx.caller.user)).sort((a, b) => a.id - b.id);
    const { page, size } = listOptions(ctx.query);
    const list = [];
    for (const r of all.slice((page - 1) * size, page * size)) list.push(await repoJson(r, ctx.caller.user));
    sendJson(ctx.res, 200, list, { 'x-total-count': String(all.length) });
  }

  // POST /orgs
  async function createOrg(ctx: Ctx): Promise<void> {
    requireToken(ctx);
    const body = await bindBody(ctx);
    const name = body.username as string;
    // Gitea: an existing user or organisation name is a 422, not a 409 (routers/api/v1/org/org.go Create)
    if (owners.has(name.toLowerCase())) throw new HttpError(422, `user already exists [name: ${name}]`);
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    const org = ensureOwner(name, 'org', {
      ownerIds: new Set([ctx.caller.user!.id]),
      fullName: str('full_name'), email: str('email'), description: str('description'), website: str('website'), location: str('location'),
      visibility: (str('visibility') || 'public') as Owner['visibility'], repoAdminChangeTeamAccess: body.repo_admin_change_team_access === true,
    });
    sendJson(ctx.res, 201, orgJson(org, ctx.caller.user));
  }

  // --- users, tokens, teams, branch protections (the bootstrap's endpoints) ------------------------------------

  /** Gitea's reqSiteAdmin. */
  function requireSiteAdmin(ctx: Ctx): Owner {
    const user = requireToken(ctx);
    if (!user.admin) throw new HttpError(403, 'user should be the site admin');
    return user;
  }
  /** Gitea's context.UserAssignmentAPI: the {username} of the path. */
  function pathUser(ctx: Ctx): Owner {
    const name = ctx.params.username!;
    const user = owners.get(name.toLowerCase());
    if (!user || user.kind !== 'user') throw new HttpError(404, `user redirect does not exist [name: ${name.toLowerCase()}]`);
    return user;
  }
  /** Gitea's reqOrgOwnership (site admins pass): teams are managed by the organisation's owners. */
  function requireOrgOwner(ctx: Ctx, org: Owner): Owner {
    const user = requireToken(ctx);
    if (!user.admin && !org.ownerIds?.has(user.id)) throw new HttpError(403, 'Must be an organization owner');
    return user;
  }
  function orgByName(name: string): Owner {
    const org = owners.get(name.toLowerCase());
    if (!org || org.kind !== 'org') throw new HttpError(404, `org does not exist [id: 0, name: ${name}]`);
    return org;
  }
  function fullUserJson(u: Owner): Record<string, unknown> {
    return userJson(baseUrl, userShape(u), true);
  }

  // GET /user
  async function getCurrentUser(ctx: Ctx): Promise<void> {
    sendJson(ctx.res, 200, fullUserJson(requireToken(ctx)));
  }

  // GET /users/{username}
  async function getUser(ctx: Ctx): Promise<void> {
    sendJson(ctx.res, 200, userJson(baseUrl, userShape(pathUser(ctx)), Boolean(ctx.caller.user?.admin)));
  }

  // POST /admin/users
  async function adminCreateUser(ctx: Ctx): Promise<void> {
    requireSiteAdmin(ctx);
    const body = await bindBody(ctx);
    const name = body.username as string;
    if (owners.has(name.toLowerCase())) throw new HttpError(422, `user already exists [name: ${name}]`);
    const email = body.email as string;
    if ([...owners.values()].some((o) => o.kind === 'user' && o.email.toLowerCase() === email.toLowerCase())) throw new HttpError(422, `e-mail already in use [email: ${email}]`);
    // Gitea (routers/api/v1/admin/user.go CreateUser): must_change_password defaults to true when not sent
    const user = ensureOwner(name, 'user', {
      email, fullName: typeof body.full_name === 'string' ? body.full_name : '', admin: false,
      password: typeof body.password === 'string' && body.password !== '' ? body.password : null,
      mustChangePassword: body.must_change_password === undefined || body.must_change_password === null ? true : body.must_change_password === true,
      allowCreateOrganization: true,
    });
    sendJson(ctx.res, 201, fullUserJson(user));
  }

  // PATCH /admin/users/{username}
  async function adminEditUser(ctx: Ctx): Promise<void> {
    requireSiteAdmin(ctx);
    const user = pathUser(ctx);
    const body = await bindBody(ctx);
    if (typeof body.password === 'string' && body.password !== '') user.password = body.password;
    if (typeof body.must_change_password === 'boolean') user.mustChangePassword = body.must_change_password;
    if (typeof body.email === 'string' && body.email !== '') user.email = body.email;
    if (typeof body.full_name === 'string') user.fullName = body.full_name;
    if (typeof body.admin === 'boolean') user.admin = body.admin;
    if (typeof body.allow_create_organization === 'boolean') user.allowCreateOrganization = body.allow_create_organization;
    sendJson(ctx.res, 200, fullUserJson(user));
  }

  /** Gitea's /users/{username}/tokens group: reqBasicOrRevProxyAuth, then reqSelfOrAdmin. */
  function tokenOwner(ctx: Ctx): Owner {
    const user = pathUser(ctx);
    const doer = requireToken(ctx);
    if (ctx.caller.scheme !== 'basic') throw new HttpError(401, 'auth required');
    if (!doer.admin && doer.id !== user.id) throw new HttpError(403, 'doer should be the site admin or be same as the contextUser');
    return user;
  }
  const SCOPE_CATEGORIES = ['activitypub', 'admin', 'issue', 'misc', 'notification', 'organization', 'package', 'repository', 'user'];

  // POST /users/{username}/tokens
  async function createToken(ctx: Ctx): Promise<void> {
    const user = tokenOwner(ctx);
    const body = await bindBody(ctx);
    const token = newToken(user, body.name as string, Array.isArray(body.scopes) ? (body.scopes as string[]) : []);
    sendJson(ctx.res, 201, { id: token.id, name: token.name, sha1: token.sha1, token_last_eight: token.sha1.slice(-8), scopes: token.scopes });
  }
  /** Gitea's token creation (API and CLI alike): unique name per user, valid scopes (comma-separated allowed). */
  function newToken(user: Owner, name: string, given: readonly string[]): StandInToken {
    if ([...apiTokens.values()].some((t) => t.owner === user.login && t.name === name)) throw new HttpError(400, 'access token name has been used already');
    const scopes = given.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
    const bad = scopes.find((x) => x !== 'all' && !SCOPE_CATEGORIES.some((c) => x === `read:${c}` || x === `write:${c}`));
    if (bad) throw new HttpError(400, `invalid access token scope provided: access token scope "${bad}" is not valid`);
    if (scopes.length === 0) throw new HttpError(400, 'access token must have a scope');
    const sha1 = randomBytes(20).toString('hex');
    const token: StandInToken = { id: nextTokenId++, owner: user.login, name, sha1, scopes };
    apiTokens.set(sha1, token);
    return token;
  }
  /** The Gitea CLI's generate-access-token (not an API route; see GiteaStandInOptions.cliRoute). */
  function generateAccessToken(username: string, tokenName: string, scopes: string): string {
    const user = owners.get(username.toLowerCase());
    if (!user || user.kind !== 'user') throw new HttpError(400, `user does not exist [uid: 0, name: ${username}]`);
    return newToken(user, tokenName, [scopes]).sha1;
  }

  // GET /users/{username}/tokens: the secret is never shown again, only its last eight characters
  async function listTokens(ctx: Ctx): Promise<void> {
    const user = tokenOwner(ctx);
    const mine = [...apiTokens.values()].filter((t) => t.owner === user.login);
    const { page, size } = listOptions(ctx.query);
    sendJson(ctx.res, 200, mine.slice((page - 1) * size, page * size).map((t) => ({ id: t.id, name: t.name, sha1: '', token_last_eight: t.sha1.slice(-8), scopes: t.scopes })), {
      'x-total-count': String(mine.length),
    });
  }

  // DELETE /users/{username}/tokens/{token}: by id or by name
  async function deleteToken(ctx: Ctx): Promise<void> {
    const user = tokenOwner(ctx);
    const key = ctx.params.token!;
    const mine = [...apiTokens.values()].filter((t) => t.owner === user.login);
    const hits = /^\d+$/.test(key) ? mine.filter((t) => String(t.id) === key || t.name === key) : mine.filter((t) => t.name === key);
    if (hits.length === 0) throw new HttpError(404, 'token does not exist');
    if (hits.length > 1) throw new HttpError(422, `multiple matches for token name '${key}'`);
    apiTokens.delete(hits[0]!.sha1);
    ctx.res.writeHead(204);
    ctx.res.end();
  }

  // POST /orgs/{org}/repos
  async function createOrgRepo(ctx: Ctx): Promise<void> {
    const user = requireToken(ctx);
    const org = orgByName(ctx.params.org!);
    if (!user.admin && !org.ownerIds?.has(user.id) && !teams.some((t) => t.org === org.login && t.canCreateOrgRepo && t.members.includes(user.login))) {
      throw new HttpError(403, 'Given user is not allowed to create repository in organization.');
    }
    const body = await bindBody(ctx);
    const name = body.name as string;
    if (findRepo(org.login, name)) throw new HttpError(409, 'The repository with the same name already exists.');
    const branch = typeof body.default_branch === 'string' && body.default_branch !== '' ? body.default_branch : 'main';
    const dir = await createRepoDir(org, name);
    await gitOk(['init', '--quiet', '--bare', `--initial-branch=${branch}`, dir]);
    const repo = newRepo(org, name, dir, { private: body.private === true, description: typeof body.description === 'string' ? body.description : '', defaultBranch: branch });
    sendJson(ctx.res, 201, await repoJson(repo, user));
  }

  function teamJson(t: StandInTeam): Record<string, unknown> {
    return {
      id: t.id, name: t.name, description: t.description, organization: orgJson(orgByName(t.org), null), includes_all_repositories: t.includesAllRepositories,
      permission: t.permission, units: t.units, units_map: t.unitsMap, can_create_org_repo: t.canCreateOrgRepo, is_security_team: false, visibility: t.visibility,
    };
  }
  /** units_map wins over the deprecated units + permission (Gitea's convertUnitsMap / attachTeamUnits). */
  function applyTeam(t: StandInTeam, body: Record<string, unknown>): void {
    if (typeof body.name === 'string' && body.name !== '') t.name = body.name;
    if (typeof body.description === 'string') t.description = body.description;
    if (typeof body.includes_all_repositories === 'boolean') t.includesAllRepositories = body.includes_all_repositories;
    if (typeof body.can_create_org_repo === 'boolean') t.canCreateOrgRepo = body.can_create_org_repo;
    if (typeof body.visibility === 'string' && body.visibility !== '') t.visibility = body.visibility;
    if (typeof body.permission === 'string' && body.permission !== '') t.permission = body.permission;
    const map = body.units_map as Record<string, string> | undefined;
    if (map && Object.keys(map).length > 0) {
      const bad = Object.entries(map).find(([, v]) => !['none', 'read', 'write', 'admin'].includes(v));
      if (bad) throw new HttpError(422, `gitea-standin: units_map.${bad[0]} must be none, read, write or admin, got ${JSON.stringify(bad[1])}`);
      t.unitsMap = { ...map };
      t.units = Object.keys(map).filter((k) => map[k] !== 'none');
    } else if (Array.isArray(body.units)) {
      t.units = body.units as string[];
      t.unitsMap = Object.fromEntries(t.units.map((u) => [u, t.permission]));
    }
  }

  // GET /orgs/{org}/teams/search
  async function searchTeams(ctx: Ctx): Promise<void> {
    const org = orgByName(ctx.params.org!);
    const user = requireToken(ctx);
    // Gitea: reqOrgMembership (site admins pass)
    if (!user.admin && !org.ownerIds?.has(user.id) && !teams.some((t) => t.org === org.login && t.members.includes(user.login))) throw new HttpError(403, 'Must be an organization member');
    const q = (ctx.query.get('q') ?? '').toLowerCase();
    const hits = teams.filter((t) => t.org === org.login && t.name.toLowerCase().includes(q));
    sendJson(ctx.res, 200, { data: hits.map(teamJson), ok: true });
  }

  // POST /orgs/{org}/teams
  async function createTeam(ctx: Ctx): Promise<void> {
    const org = orgByName(ctx.params.org!);
    requireOrgOwner(ctx, org);
    const body = await bindBody(ctx);
    const name = body.name as string;
    if (teams.some((t) => t.org === org.login && t.name.toLowerCase() === name.toLowerCase())) throw new HttpError(422, `team already exists [org_id: ${org.id}, name: ${name}]`);
    const team: StandInTeam = { id: nextTeamId++, org: org.login, name, description: '', permission: 'none', includesAllRepositories: false, canCreateOrgRepo: false, units: [], unitsMap: {}, visibility: 'private', members: [] };
    applyTeam(team, body);
    teams.push(team);
    sendJson(ctx.res, 201, teamJson(team));
  }

  function teamById(ctx: Ctx): StandInTeam {
    const team = teams.find((t) => String(t.id) === ctx.params.id);
    if (!team) throw new HttpError(404, `team does not exist [org_id: 0, team_id: ${ctx.params.id}, name: ]`);
    return team;
  }

  // PATCH /teams/{id}
  async function editTeam(ctx: Ctx): Promise<void> {
    const team = teamById(ctx);
    requireOrgOwner(ctx, orgByName(team.org));
    applyTeam(team, await bindBody(ctx));
    sendJson(ctx.res, 200, teamJson(team));
  }

  // PUT /teams/{id}/members/{username}: adding a member twice is no error
  async function addTeamMember(ctx: Ctx): Promise<void> {
    const team = teamById(ctx);
    requireOrgOwner(ctx, orgByName(team.org));
    const user = pathUser(ctx);
    if (!team.members.includes(user.login)) team.members.push(user.login);
    ctx.res.writeHead(204);
    ctx.res.end();
  }

  function protectionJson(p: StandInProtection): Record<string, unknown> {
    return { branch_name: p.ruleName, rule_name: p.ruleName, ...p.rule };
  }
  /** Gitea (routers/api/v1/repo/branch.go): whitelisted users must exist. */
  function checkWhitelist(body: Record<string, unknown>): void {
    for (const key of ['push_whitelist_usernames', 'merge_whitelist_usernames', 'approvals_whitelist_username', 'force_push_allowlist_usernames']) {
      for (const name of (body[key] as string[] | undefined) ?? []) {
        const u = owners.get(name.toLowerCase());
        if (!u || u.kind !== 'user') throw new HttpError(422, `user does not exist [uid: 0, name: ${name}]`);
      }
    }
  }
  /** Gitea's reqRepoAdmin: the stand-in lets site admins and the owners of the repository's organisation through. */
  function requireRepoAdmin(ctx: Ctx, repo: Repo): void {
    const user = requireToken(ctx);
    if (!user.admin && repo.owner.id !== user.id && !repo.owner.ownerIds?.has(user.id)) throw new HttpError(403, 'Must have admin access to the repository');
  }

  // GET /repos/{owner}/{repo}/branch_protections/{name}
  async function getProtection(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    requireRepoAdmin(ctx, repo);
    const p = protections.find((x) => x.owner === repo.owner.login && x.repo === repo.name && x.ruleName === ctx.params.name);
    if (!p) throw new HttpError(404, 'not found');
    sendJson(ctx.res, 200, protectionJson(p));
  }

  // POST /repos/{owner}/{repo}/branch_protections
  async function createProtection(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    requireRepoAdmin(ctx, repo);
    const body = await bindBody(ctx);
    const ruleName = (typeof body.rule_name === 'string' && body.rule_name) || (typeof body.branch_name === 'string' ? body.branch_name : '');
    if (protections.some((x) => x.owner === repo.owner.login && x.repo === repo.name && x.ruleName === ruleName)) throw new HttpError(403, 'Branch protection already exist');
    checkWhitelist(body);
    const { rule_name: _r, branch_name: _b, ...rule } = body;
    const p: StandInProtection = { owner: repo.owner.login, repo: repo.name, ruleName, rule };
    protections.push(p);
    sendJson(ctx.res, 201, protectionJson(p));
  }

  // PATCH /repos/{owner}/{repo}/branch_protections/{name}
  async function editProtection(ctx: Ctx): Promise<void> {
    const repo = assignRepo(ctx);
    requireRepoAdmin(ctx, repo);
    const p = protections.find((x) => x.owner === repo.owner.login && x.repo === repo.name && x.ruleName === ctx.params.name);
    if (!p) throw new HttpError(404, 'not found');
    const body = await bindBody(ctx);
    checkWhitelist(body);
    Object.assign(p.rule, body);
    sendJson(ctx.res, 200, protectionJson(p));
  }

  // --- git smart HTTP through `git http-backend` --------------------------------------------------------------

  const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack|git-upload-archive|HEAD|objects\/.+|info\/[^/]+)$/;

  /** Gitea's githttp.go: anonymous pulls of public repositories are fine; everything else needs credentials. */
  async function handleGit(req: IncomingMessage, res: ServerResponse, url: URL, m: RegExpExecArray, rec: RecordedRequest): Promise<void> {
    const [, ownerName, repoName, rest] = m as unknown as [string, string, string, string];
    const service = url.searchParams.get('service') ?? (rest.startsWith('git-') ? rest : '');
    if (service && !['git-upload-pack', 'git-receive-pack', 'git-upload-archive'].includes(service)) return sendText(res, 400, '');
    const isPull = service ? service !== 'git-receive-pack' : req.method === 'GET' || req.method === 'HEAD';
    const caller = authenticate(req);
    Object.assign(rec, { auth: caller.scheme, authOk: caller.ok, user: caller.user?.login ?? null });
    const repo = findRepo(ownerName, repoName);
    const askAuth = { 'www-authenticate': 'Basic realm="Gitea"' };
    if (caller.ok === false) return sendText(res, 401, 'invalid credentials\n', askAuth);
    const anonymousPull = isPull && repo && !repo.private && repo.owner.visibility === 'public' && !opts.requireSignInView;
    if (!anonymousPull && !caller.user) return sendText(res, 401, 'Unauthorized\n', askAuth);
    if (!repo) return sendText(res, 404, 'Repository not found');
    if (!isPull && repo.archived) return sendText(res, 403, 'This repo is archived. You can view files and clone it, but cannot push or open issues/pull-requests.');
    if (!isPull && repo.mirror) return sendText(res, 403, 'mirror repository is read-only');
    await runHttpBackend(req, res, repo, `/${rest}`, url.search.slice(1), caller.user);
  }

  function runHttpBackend(req: IncomingMessage, res: ServerResponse, repo: Repo, suffix: string, queryString: string, user: Owner | null): Promise<void> {
    return new Promise((resolve) => {
      const relDir = `/${repo.owner.login.toLowerCase()}/${repo.name.toLowerCase()}.git`;
      const env: NodeJS.ProcessEnv = {
        ...gitEnv,
        GIT_PROJECT_ROOT: reposRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: relDir + suffix,
        QUERY_STRING: queryString,
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
        ...(req.headers['git-protocol'] ? { HTTP_GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        ...(user ? { REMOTE_USER: user.login } : {}),
      };
      const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      let head = Buffer.alloc(0);
      let headersDone = false;
      child.stdout.on('data', (chunk: Buffer) => {
        if (headersDone) return void res.write(chunk);
        head = Buffer.concat([head, chunk]);
        const crlf = head.indexOf('\r\n\r\n');
        const lf = head.indexOf('\n\n');
        const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
        if (end < 0) return;
        headersDone = true;
        let status = 200;
        const headers: Record<string, string> = {};
        for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/).filter(Boolean)) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).trim();
          const value = line.slice(colon + 1).trim();
          if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
          else headers[name] = value;
        }
        res.writeHead(status, headers);
        res.write(head.subarray(end));
      });
      child.stderr.on('data', () => undefined);
      child.on('close', () => {
        children.delete(child);
        if (!headersDone) sendText(res, 500, 'gitea-standin: git http-backend gave no response\n');
        else res.end();
        resolve();
      });
      child.stdin.on('error', () => undefined);
      req.pipe(child.stdin);
    });
  }

  // --- the HTTP server ----------------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = k === 'token' || k === 'access_token' ? '<redacted>' : v;
    const rec: RecordedRequest = {
      method: req.method ?? 'GET', path: url.pathname, query, status: 0, kind: 'other', auth: 'none', authOk: null, user: null,
      operationId: null, fault: false,
    };
    requests.push(rec);
    res.on('finish', () => { rec.status = res.statusCode; });
    const gitMatch = GIT_PATH.exec(url.pathname);
    rec.kind = url.pathname === API_BASE || url.pathname.startsWith(`${API_BASE}/`) ? 'api' : gitMatch ? 'git' : 'other';
    try {
      // faults first: they stand for trouble in front of or inside Gitea
      const fault = faultRules.find((f) => f.remaining > 0 && (!f.rule.method || f.rule.method.toUpperCase() === rec.method) && f.matches(url.pathname));
      if (fault) {
        fault.remaining--;
        if (fault.remaining === 0) faultRules.splice(faultRules.indexOf(fault), 1);
        rec.fault = true;
        if (fault.rule.delayMs) await new Promise((r) => setTimeout(r, fault.rule.delayMs));
        if (fault.rule.status) {
          await readBody(req).catch(() => undefined);
          return sendError(res, fault.rule.status, 'gitea-standin: injected fault', fault.rule.headers);
        }
      }
      // Gitea's health check (routers/common/middleware.go: /api/healthz), outside /api/v1
      if (url.pathname === '/api/healthz') return sendJson(res, 200, { status: 'pass', description: 'Gitea: Git with a cup of tea', checks: {} });
      if (opts.cliRoute && url.pathname === '/-/standin-cli/generate-access-token' && req.method === 'POST') {
        // stand-in: the Gitea CLI in the pod, for a fake kubectl exec (GiteaStandInOptions.cliRoute)
        const q = (k: string) => url.searchParams.get(k) ?? '';
        try {
          return sendText(res, 200, `${generateAccessToken(q('username'), q('token_name'), q('scopes'))}\n`);
        } catch (err) {
          if (err instanceof HttpError) return sendText(res, 400, `${err.message}\n`);
          throw err;
        }
      }
      if (rec.kind === 'api') return await handleApi(req, res, url, rec);
      if (gitMatch) return await handleGit(req, res, url, gitMatch, rec);
      sendText(res, 404, '404 page not found\n'); // stand-in: no web UI
    } catch (err) {
      if (res.headersSent) return void res.end();
      if (err instanceof HttpError) return sendError(res, err.status, err.message, err.extraHeaders);
      sendError(res, 500, '', { 'x-gitea-standin-note': sanitizeCredentials(String((err as Error)?.stack ?? err)).slice(0, 500) });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const socketServer = opts.socketPath ? createServer((req, res) => void handle(req, res)) : null;
  if (socketServer) {
    await new Promise<void>((resolve, reject) => {
      socketServer.once('error', reject);
      socketServer.listen(opts.socketPath, () => resolve());
    });
  }

  const standIn: GiteaStandIn = {
    url: baseUrl,
    apiUrl: `${baseUrl}${API_BASE}`,
    statuses,
    requests,
    mirrorSyncs,
    faults: {
      add(rule) {
        faultRules.push({ rule, remaining: rule.times ?? 1, matches: faultMatcher(rule.path) });
      },
      clear() {
        faultRules.length = 0;
      },
      get pending() {
        return faultRules.map(({ rule, remaining }) => ({ rule, remaining }));
      },
    },
    async addRepo(ownerName, name, o = {}) {
      if (findRepo(ownerName, name)) throw new Error(`gitea-standin: repository ${ownerName}/${name} exists already`);
      const owner = owners.get(ownerName.toLowerCase()) ?? ensureOwner(ownerName, 'org');
      const branch = o.branch ?? 'main';
      const dir = await createRepoDir(owner, name);
      await gitOk(['init', '--quiet', '--bare', `--initial-branch=${branch}`, dir]);
      const repo = newRepo(owner, name, dir, { private: Boolean(o.private), description: o.description ?? '', defaultBranch: branch });
      const sha = Object.keys(o.files ?? {}).length > 0 ? await writeCommit(repo, o.files!, o.message ?? 'Initial commit', branch) : '';
      return { sha, cloneUrl: `${baseUrl}/${owner.login}/${name}.git`, htmlUrl: `${baseUrl}/${owner.login}/${name}` };
    },
    async commit(ownerName, name, files, message, branch) {
      const repo = mustRepo(ownerName, name);
      return writeCommit(repo, files, message, branch ?? repo.defaultBranch);
    },
    generateAccessToken(username, tokenName, scopes) {
      return generateAccessToken(username, tokenName, scopes);
    },
    users() {
      return [...owners.values()].filter((o) => o.kind === 'user').map((o) => ({
        login: o.login, email: o.email, admin: o.admin, mustChangePassword: Boolean(o.mustChangePassword), allowCreateOrganization: Boolean(o.allowCreateOrganization), password: o.password ?? null,
      }));
    },
    tokens() {
      return [...apiTokens.values()].map((t) => ({ ...t, scopes: [...t.scopes] }));
    },
    teams() {
      return teams.map((t) => ({ ...t, members: [...t.members] }));
    },
    protections() {
      return protections.map((p) => ({ ...p, rule: { ...p.rule } }));
    },
    orgVisibility(name) {
      const org = owners.get(name.toLowerCase());
      return org && org.kind === 'org' ? org.visibility : null;
    },
    addOrg(name, o = {}) {
      if (owners.has(name.toLowerCase())) throw new Error(`gitea-standin: ${name} exists already`);
      ensureOwner(name, 'org', { visibility: o.visibility ?? 'public', fullName: o.fullName ?? '' });
    },
    repoDir(ownerName, name) {
      return mustRepo(ownerName, name).dir;
    },
    async settled() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
    async close() {
      if (closing) return;
      closing = true;
      for (const child of children) child.kill('SIGKILL');
      await Promise.allSettled([...background]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (socketServer) {
        await new Promise<void>((resolve) => {
          socketServer.close(() => resolve());
          socketServer.closeAllConnections();
        });
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  return standIn;
}
