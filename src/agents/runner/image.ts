/**
 * The image build step: `buildctl` against the pool's BuildKit daemon (BUILDKIT_HOST), with the
 * registry cache the manifests configure (BUILDKIT_CACHE_IMPORT / BUILDKIT_CACHE_EXPORT, `{image}`
 * standing for the image name), pushing `<registry>/<owner>/<repo>:<sha>` and `:<branch>` to Gitea's
 * registry as the bot user. buildctl reads the registry credentials from a Docker config file that
 * lives in the job's temporary folder for the length of the step, never in argv or the log.
 * @see https://github.com/moby/buildkit#building-a-dockerfile-with-buildctl
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ImageBuild {
  readonly registryHost: string;
  /** owner/name: the image is <registry>/<owner>/<name>. */
  readonly repo: string;
  readonly sha: string;
  /** Branch name, added as a second tag when it is a valid tag. */
  readonly branch?: string;
  readonly dockerfile: string;
  readonly context: string;
  readonly push: boolean;
  readonly cacheImport?: string;
  readonly cacheExport?: string;
  /** Whether the registry is plain HTTP. */
  readonly insecure: boolean;
}

/** Image name on the registry: lowercase, as registries require. */
export function imageName(registryHost: string, repo: string): string {
  return `${registryHost}/${repo}`.toLowerCase();
}

/** A branch as an image tag, or undefined when it cannot be one. */
export function branchTag(branch: string | undefined): string | undefined {
  if (!branch) return undefined;
  const tag = branch.replace(/[^\w.-]/g, '-').replace(/^[.-]+/, '').slice(0, 128);
  return tag && tag !== 'latest' ? tag : undefined;
}

/** The buildctl arguments for a build (shell-quoted command line) and the references it pushes. */
export function buildctlCommand(b: ImageBuild, metadataFile: string): { command: string; refs: string[] } {
  const image = imageName(b.registryHost, b.repo);
  const refs = [`${image}:${b.sha}`];
  const tag = branchTag(b.branch);
  if (tag) refs.push(`${image}:${tag}`);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const dockerfileDir = b.dockerfile.includes('/') ? join(b.context, b.dockerfile.slice(0, b.dockerfile.lastIndexOf('/'))) : b.context;
  const filename = b.dockerfile.includes('/') ? b.dockerfile.slice(b.dockerfile.lastIndexOf('/') + 1) : b.dockerfile;
  const output = `type=image,"name=${refs.join(',')}",push=${b.push}${b.insecure ? ',registry.insecure=true' : ''}`;
  const args = [
    'buildctl',
    'build',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${b.context}`,
    '--local',
    `dockerfile=${dockerfileDir}`,
    '--opt',
    `filename=${filename}`,
    '--opt',
    `label:org.opencontainers.image.revision=${b.sha}`,
    '--output',
    output,
    '--metadata-file',
    metadataFile,
    ...(b.cacheImport ? ['--import-cache', b.cacheImport.replaceAll('{image}', image)] : []),
    ...(b.cacheExport && b.push ? ['--export-cache', b.cacheExport.replaceAll('{image}', image)] : []),
  ];
  return { command: args.map(q).join(' '), refs };
}

/** A Docker config with the registry credentials, in a private temporary folder; `dispose` removes it. */
export function dockerConfig(registryHost: string, user: string, token: string): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-docker-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registryHost]: { auth: Buffer.from(`${user}:${token}`).toString('base64') } } }), { mode: 0o600 });
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The pushed digest from buildctl's metadata file, if it wrote one. */
export function readDigest(metadataFile: string): string | undefined {
  try {
    const m = JSON.parse(readFileSync(metadataFile, 'utf8')) as Record<string, unknown>;
    const d = m['containerimage.digest'];
    return typeof d === 'string' ? d : undefined;
  } catch {
    return undefined;
  }
}
