/**
 * Content-addressed image tags, computed at synth time from exactly what goes into each image:
 *
 *   inputs(image) = every file under images/<image>/ (its Dockerfile)
 *                 + package.json, package-lock.json, tsconfig.json, src/images/bundle.ts (the bundle build)
 *                 + every source file the bundle reaches from src/cli/entry.ts (esbuild's metafile)
 *   manifest      = one `<sha256>  <path>` line per input, sorted by path (`sha256sum -c` format)
 *   tag           = the first 16 hex digits of sha256(manifest)
 *
 * The manifests therefore name exactly the image the sources describe: a changed Dockerfile, runtime
 * file or lockfile changes the tag, hence the synthesized tree, which the drift test compares. A file
 * outside an image's inputs (a construct, a test) changes no tag. The in-cluster build (builds.ts)
 * receives the manifest, fetches those very files from the GitOps repository and checks each hash
 * before it builds, so the pushed image is built from the inputs its tag names and nothing else.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { IMAGE_NAMES, imageDockerfile, imageFolder } from './catalog.js';

/** The repository root: the build context of every image. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Entry point of the `raibid` command, relative to the root (src/images/bundle.ts bundles it). */
export const BUNDLE_ENTRY_PATH = 'src/cli/entry.ts';
/** Files the bundle build reads besides the sources it reaches: the install and the bundler. */
export const BUNDLE_TOOLING: readonly string[] = ['package.json', 'package-lock.json', 'tsconfig.json', 'src/images/bundle.ts'];
/** Hex digits of the manifest hash an image tag keeps (64 bits). */
export const TAG_LENGTH = 16;

/** What synth knows about one image it builds. */
export interface ImageSource {
  /** Image name, e.g. `raibid-api`. */
  readonly name: string;
  /** The content tag, e.g. `3f9c0a1b2c3d4e5f`. */
  readonly tag: string;
  /** Repository-relative paths of its inputs, sorted. */
  readonly inputs: readonly string[];
  /** `<sha256>  <path>` per input: what the build Job verifies. */
  readonly manifest: string;
}

const toPosix = (p: string) => p.split(sep).join('/');
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Repository-relative source files the bundle reaches from its entry point (dependencies excluded: the lockfile pins them). */
export function bundleSources(root: string = REPO_ROOT): string[] {
  let inputs: Record<string, unknown>;
  try {
    const r = buildSync({
      absWorkingDir: root,
      entryPoints: [BUNDLE_ENTRY_PATH],
      outfile: 'raibid.mjs',
      bundle: true,
      write: false,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
    });
    inputs = r.metafile.inputs;
  } catch (e) {
    throw new Error(`cannot compute the image tags: esbuild could not follow the imports of ${BUNDLE_ENTRY_PATH}: ${(e as Error).message.split('\n').slice(0, 4).join(' ')}`);
  }
  return Object.keys(inputs).map(toPosix).sort();
}

/** Every file under an image's folder, repository-relative and sorted. */
export function imageFolderFiles(root: string, name: string): string[] {
  const dockerfile = imageDockerfile(name);
  if (!existsSync(join(root, dockerfile))) throw new Error(`${dockerfile} is missing: every image of src/images/catalog.ts (IMAGE_NAMES, AGENT_TOOLCHAINS) needs a Dockerfile in its folder`);
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) visit(full);
      else if (statSync(full).isFile()) out.push(toPosix(relative(root, full)));
    }
  };
  visit(join(root, imageFolder(name)));
  return out.sort();
}

/** The `sha256sum -c` manifest of files under `root`. */
export function inputsManifest(root: string, files: readonly string[]): string {
  return files.map((f) => `${sha256(readFileSync(join(root, f)))}  ${f}\n`).join('');
}

/** The tag of a manifest. */
export function manifestTag(manifest: string): string {
  return sha256(manifest).slice(0, TAG_LENGTH);
}

/** Inputs, manifest and tag of every image of the catalogue, for the sources under `root`. */
export function computeImageSources(root: string = REPO_ROOT, names: readonly string[] = IMAGE_NAMES): Map<string, ImageSource> {
  const shared = [...BUNDLE_TOOLING, ...bundleSources(root)];
  for (const f of BUNDLE_TOOLING) if (!existsSync(join(root, f))) throw new Error(`cannot compute the image tags: ${f} is missing under ${root}`);
  const out = new Map<string, ImageSource>();
  for (const name of names) {
    const inputs = [...new Set([...imageFolderFiles(root, name), ...shared])].sort();
    const manifest = inputsManifest(root, inputs);
    out.set(name, { name, tag: manifestTag(manifest), inputs, manifest });
  }
  return out;
}

let current: Map<string, ImageSource> | undefined;

/** The images of this repository's sources, computed once per process (synth reads them many times). */
export function imageSources(): ReadonlyMap<string, ImageSource> {
  current ??= computeImageSources();
  return current;
}

/** One image of this repository's sources; throws for a name the catalogue does not have. */
export function imageSource(name: string): ImageSource {
  const s = imageSources().get(name);
  if (!s) throw new Error(`no image ${JSON.stringify(name)} in src/images/catalog.ts (images: ${[...imageSources().keys()].join(', ')})`);
  return s;
}
