// The first step of an image build Job (src/images/builds.ts), run with plain `node` in the Node base
// image; no dependencies. It decides whether the image must be built and, if so, assembles the build
// context from exactly the files the image's tag was computed from (src/images/inputs.ts):
//
// 1. Checks that the manifest hashes to the tag (the Job and its inputs ConfigMap belong together).
// 2. Asks the registry for <image>:<tag>. Present: writes <work>/skip and exits 0; the Job is done.
// 3. Resolves the head of the GitOps branch in Gitea and fetches every manifest file at that commit.
// 4. Checks each file's sha256 against the manifest. Any difference or missing file: lists them and
//    exits 3 (the Job fails at once: retrying cannot help). The branch has then moved on to content
//    with another tag (Flux applies that revision's Job and prunes this one), or the tag was computed
//    from files that were never committed.
// 5. Writes the files under <work>/context/, the commit to <work>/commit and the registry login
//    (Docker config.json, mode 0600) to $DOCKER_CONFIG for buildctl, which then builds and pushes.
//
// Other failures (Gitea or the registry unreachable) exit 1 after retries; the Job retries the pod.
// Secrets come from the environment and never reach argv or the log.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Exit code for "the inputs are not what the tag says": the Job fails without retrying. */
const EXIT_MISMATCH = 3;
const TAG_LENGTH = 16;
const ATTEMPTS = 4;
const CONCURRENCY = 8;
const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

class Mismatch extends Error {}

const log = (line) => console.log(`image-build: ${line}`);

function settings(env) {
  const missing = [];
  const need = (name) => {
    const v = env[name];
    if (!v) missing.push(name);
    return v ?? '';
  };
  const s = {
    giteaUrl: need('GITEA_URL').replace(/\/+$/, ''),
    repo: need('GITOPS_REPO'),
    branch: need('GITOPS_BRANCH'),
    user: need('GITEA_USER'),
    token: need('GITEA_TOKEN'),
    registryHost: need('REGISTRY_HOST'),
    repository: need('IMAGE_REPOSITORY'),
    tag: need('IMAGE_TAG'),
    manifest: need('INPUTS_MANIFEST'),
    work: need('BUILD_WORK_DIR'),
    dockerConfig: need('DOCKER_CONFIG'),
    timeoutMs: Number(env.HTTP_TIMEOUT_SECONDS || 30) * 1000,
  };
  if (missing.length) throw new Error(`missing environment: ${missing.join(', ')}`);
  return s;
}

/** `<sha256>  <path>` lines → entries; refuses paths that could leave the context folder. */
function parseManifest(text) {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (!m) throw new Error(`inputs manifest line ${i + 1} is not "<sha256>  <path>"`);
      const path = m[2];
      if (path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`inputs manifest line ${i + 1}: path ${JSON.stringify(path)} is not a plain relative path`);
      return { sha256: m[1], path };
    });
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** fetch with a timeout, retrying network errors and 5xx answers with backoff and jitter. */
async function request(s, url, init = {}) {
  let last;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const r = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(s.timeoutMs) });
      if (r.status < 500) return r;
      last = new Error(`HTTP ${r.status}`);
    } catch (e) {
      last = e;
    }
    if (attempt < ATTEMPTS) await sleep(500 * 2 ** attempt * (0.5 + Math.random()));
  }
  throw new Error(`${init.method ?? 'GET'} ${url}: ${last?.cause?.message ?? last?.message ?? last}`);
}

const basic = (s) => `Basic ${Buffer.from(`${s.user}:${s.token}`).toString('base64')}`;

/** `Bearer realm="…",service="…"` → { realm, service } */
function challenge(header) {
  const out = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) out[m[1].toLowerCase()] = m[2];
  return out;
}

/** Whether <repository>:<tag> is in the registry (Docker registry API, Gitea's token realm). */
async function tagExists(s) {
  const name = s.repository.slice(s.repository.indexOf('/') + 1);
  // Gitea serves the registry on its own address; asking it in the cluster avoids the LAN name and TLS.
  const url = `${s.giteaUrl}/v2/${name}/manifests/${encodeURIComponent(s.tag)}`;
  let r = await request(s, url, { method: 'HEAD', headers: { accept: MANIFEST_MEDIA_TYPES } });
  if (r.status === 401) {
    const header = r.headers.get('www-authenticate') ?? '';
    const c = challenge(header);
    if (!/^bearer/i.test(header) || !c.realm) throw new Error(`the registry asked for ${JSON.stringify(header)}; expected a Bearer token realm`);
    // The realm is on Gitea's public URL (ROOT_URL): ask the same server at its in-cluster address.
    const realm = new URL(c.realm);
    const tokenUrl = new URL(`${realm.pathname}${realm.search}`, new URL(s.giteaUrl).origin);
    if (c.service) tokenUrl.searchParams.set('service', c.service);
    tokenUrl.searchParams.set('scope', `repository:${name}:pull`);
    const t = await request(s, tokenUrl, { headers: { authorization: basic(s) } });
    if (!t.ok) throw new Error(`the registry refused a pull token for ${name} (HTTP ${t.status}); check the image-builder Secret`);
    const body = await t.json();
    r = await request(s, url, { method: 'HEAD', headers: { accept: MANIFEST_MEDIA_TYPES, authorization: `Bearer ${body.token ?? body.access_token}` } });
  }
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  throw new Error(`the registry answered HTTP ${r.status} for ${s.repository}:${s.tag}`);
}

const api = (s, path) => request(s, `${s.giteaUrl}/api/v1/repos/${s.repo}${path}`, { headers: { authorization: `token ${s.token}` } });

/** The commit the GitOps branch points at now. */
async function branchHead(s) {
  const r = await api(s, `/branches/${s.branch.split('/').map(encodeURIComponent).join('/')}`);
  if (!r.ok) throw new Error(`Gitea answered HTTP ${r.status} for branch ${s.branch} of ${s.repo}`);
  const id = (await r.json())?.commit?.id;
  if (!/^[0-9a-f]{40,64}$/.test(id ?? '')) throw new Error(`Gitea returned no commit for branch ${s.branch} of ${s.repo}`);
  return id;
}

/** Every input at `commit`: { path, data } or { path, problem }. */
async function fetchInputs(s, entries, commit) {
  const out = new Array(entries.length);
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      const { path, sha256: want } = entries[i];
      const r = await api(s, `/raw/${path.split('/').map(encodeURIComponent).join('/')}?ref=${commit}`);
      if (r.status === 404) out[i] = { path, problem: 'missing' };
      else if (!r.ok) throw new Error(`Gitea answered HTTP ${r.status} for ${path} at ${commit}`);
      else {
        const data = Buffer.from(await r.arrayBuffer());
        const got = sha256(data);
        out[i] = got === want ? { path, data } : { path, problem: `changed (expected sha256 ${want.slice(0, 12)}…, found ${got.slice(0, 12)}…)` };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  return out;
}

async function run(env = process.env) {
  const s = settings(env);
  const text = readFileSync(s.manifest, 'utf8');
  if (sha256(text).slice(0, TAG_LENGTH) !== s.tag) throw new Error(`the inputs manifest ${s.manifest} does not hash to tag ${s.tag}; the Job and its inputs ConfigMap disagree (run npm run synth)`);
  const entries = parseManifest(text);
  mkdirSync(s.work, { recursive: true });

  if (await tagExists(s)) {
    const line = `${s.repository}:${s.tag} is already in the registry; nothing to build`;
    writeFileSync(join(s.work, 'skip'), `image-build: ${line}\n`);
    log(line);
    return 0;
  }

  const commit = await branchHead(s);
  log(`building ${s.repository}:${s.tag} from ${s.repo}@${commit} (${s.branch}), ${entries.length} inputs`);
  const files = await fetchInputs(s, entries, commit);
  const problems = files.filter((f) => f.problem);
  if (problems.length) {
    throw new Mismatch(
      [
        `branch ${s.branch} of ${s.repo} (now at ${commit}) does not hold the inputs tag ${s.tag} was computed from:`,
        ...problems.slice(0, 30).map((f) => `  ${f.path}: ${f.problem}`),
        ...(problems.length > 30 ? [`  … and ${problems.length - 30} more`] : []),
        'npm run synth computes the tag from these files; commit them with the synthesized tree. If the branch has',
        'moved on since, Flux applies the newer revision, whose build Job has the new tag, and prunes this one.',
      ].join('\n'),
    );
  }
  for (const f of files) {
    const target = join(s.work, 'context', f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.data);
  }
  writeFileSync(join(s.work, 'commit'), `${commit}\n`);
  mkdirSync(s.dockerConfig, { recursive: true });
  const auth = { auths: { [s.registryHost]: { auth: Buffer.from(`${s.user}:${s.token}`).toString('base64') } } };
  writeFileSync(join(s.dockerConfig, 'config.json'), JSON.stringify(auth), { mode: 0o600 });
  log(`inputs verified against tag ${s.tag}; handing over to buildctl`);
  return 0;
}

// Always the entry point (run as `node fetch-inputs.mjs`; tests run it the same way).
run().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`image-build: ${e.message}`);
    process.exit(e instanceof Mismatch ? EXIT_MISMATCH : 1);
  },
);
