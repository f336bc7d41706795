/**
 * The images raibid-ci builds itself, from this repository, in the cluster (infrastructure/images):
 *
 *   images/raibid-api/Dockerfile   the API (`raibid api`)
 *   images/agent-<toolchain>/      one agent image per toolchain (`raibid agent`); a pool picks one with
 *                                  `toolchain` (default: rust) unless it sets `image` to one of its own
 *
 * Every image carries the bundled `raibid` command (src/images/bundle.ts), built inside the image build
 * from the repository sources. Images live under the Gitea admin's own registry namespace
 * (`<registryHost>/<gitea.admin.username>/<image>:<tag>`), which the bot user the builds run as cannot
 * push to: an untrusted CI job cannot replace the image the API or the agents run.
 */

/** Name (and folder under images/) of the API image. */
export const API_IMAGE = 'raibid-api';

/**
 * Toolchains with an agent image in images/agent-<toolchain>/. Adding one: write its Dockerfile, add
 * its name here, set `toolchain: <name>` on a pool, run `npm run synth` (README, "Images").
 */
export const AGENT_TOOLCHAINS = ['rust'] as const;
export type AgentToolchain = (typeof AGENT_TOOLCHAINS)[number];
/** The toolchain of a pool that names neither `image` nor `toolchain`. */
export const DEFAULT_TOOLCHAIN: AgentToolchain = 'rust';

/** Name (and folder under images/) of a toolchain's agent image. */
export function agentImageName(toolchain: string): string {
  return `agent-${toolchain}`;
}

/** Every image raibid-ci knows how to build, in a stable order. */
export const IMAGE_NAMES: readonly string[] = [API_IMAGE, ...AGENT_TOOLCHAINS.map(agentImageName)];

/** Folder of an image's build files (its Dockerfile and anything it copies from there). */
export function imageFolder(name: string): string {
  return `images/${name}`;
}

/** The Dockerfile of an image, relative to the repository root (the build context). */
export function imageDockerfile(name: string): string {
  return `${imageFolder(name)}/Dockerfile`;
}

/**
 * Base images the Dockerfiles start from, also used by the build Jobs (the input fetcher runs on the
 * same Node as the images). Each tag exists for linux/amd64 and linux/arm64: see the Dockerfiles'
 * headers for how that was checked. test/images.test.ts keeps the Dockerfiles equal to these.
 */
export const NODE_BASE_IMAGE = 'docker.io/library/node:20.20.2-bookworm-slim';

/** `app.kubernetes.io/name` of the build Jobs' pods (NetworkPolicies of BuildKit and Gitea admit them). */
export const IMAGE_BUILD_APP = 'image-build';
