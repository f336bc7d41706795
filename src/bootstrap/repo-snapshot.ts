/**
 * This repository, packed for the one-time push into the in-cluster Gitea: a git bundle of the branch
 * Flux follows. Checked first: the branch must exist and contain the synthesized clusters/<name>/,
 * or Flux would have nothing to reconcile.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RaibidConfig } from '../config/resolve.js';

export interface RepoSnapshot {
  /** Branch pushed (flux.branch). */
  readonly branch: string;
  /** Commit the branch points at. */
  readonly commit: string;
  /** Local path of the git bundle. */
  readonly bundlePath: string;
}

/** Makes a RepoSnapshot; tests pass their own. */
export type SnapshotRepository = (root: string, c: RaibidConfig) => RepoSnapshot;

function git(root: string, args: readonly string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Bundles `refs/heads/<flux.branch>` of the repository at `root` into the temp folder. */
export const snapshotRepository: SnapshotRepository = (root, c) => {
  const branch = c.flux.branch;
  let commit: string;
  try {
    commit = git(root, ['rev-parse', '--verify', `refs/heads/${branch}^{commit}`]);
  } catch {
    throw new Error(`branch ${JSON.stringify(branch)} (flux.branch) is not in the git repository at ${root}; bootstrap pushes that branch to Gitea for Flux`);
  }
  const entry = `clusters/${c.cluster.name}/kustomization.yaml`;
  try {
    git(root, ['cat-file', '-e', `${commit}:${entry}`]);
  } catch {
    throw new Error(`branch ${branch} has no ${entry}: run \`npm run synth\` and commit clusters/, infrastructure/ and apps/ before bootstrapping (Flux reconciles what is committed)`);
  }
  const bundlePath = join(tmpdir(), `raibid-ci-bootstrap-${branch.replace(/[^\w.-]/g, '_')}.bundle`);
  git(root, ['bundle', 'create', bundlePath, `refs/heads/${branch}`]);
  return { branch, commit, bundlePath };
};
