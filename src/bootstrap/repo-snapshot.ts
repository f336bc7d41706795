/**
 * This repository at the one commit bootstrap works from: the commit it pushes into the in-cluster Gitea
 * (as a git bundle) and the commit whose dist/bootstrap.k8s.yaml and clusters/<name>/ it applies, read
 * with `git show <commit>:<path>`, never from the working tree. What Pulumi applies is therefore exactly
 * what Flux later reconciles from Gitea.
 *
 * The commit is pinned per stack in a ref outside the branches, `refs/raibid-ci/bootstrap/<stack>`,
 * written by the first `pulumi up` (a preview only reads). Later runs use the pin: they neither need
 * `flux.branch` to exist locally nor pick up newer commits (those reach the cluster by `git push` to
 * Gitea, and Flux owns the objects by then; ownership.ts). The ref also keeps the commit's objects from
 * `git gc`. Delete it to bootstrap from the branch again: `git update-ref -d refs/raibid-ci/bootstrap/<stack>`.
 *
 * The bundle is written into the git directory (`.git/raibid-ci/`), which survives a reboot, unlike /tmp.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { RaibidConfig } from '../config/resolve.js';
import { yamlFiles } from '../policy/documents.js';

export interface RepoSnapshot {
  /** Branch pushed (flux.branch). */
  readonly branch: string;
  /** The commit pushed and applied. */
  readonly commit: string;
  /** Local path of a git bundle with a head at `commit`. */
  readonly bundlePath: string;
}

/** Where the snapshot comes from; `stack` names the pin. */
export type SnapshotRepository = (root: string, c: RaibidConfig, stack?: string, options?: { readonly pin?: boolean }) => RepoSnapshot;

/** Read access to the files of one tree: a commit, or a folder on disk. */
export interface SourceTree {
  /** Shown in messages: `commit 0123abc` or the folder. */
  readonly name: string;
  /** The file's text, or undefined when the tree has no such file. */
  read(path: string): string | undefined;
  /** Paths (relative to the tree's root) of the .yaml files below `dir`, sorted. */
  yamlFiles(dir: string): string[];
}

function git(root: string, args: readonly string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 2 ** 20 });
}

/** The commit a ref points at, or undefined. */
function commitOf(root: string, ref: string): string | undefined {
  try {
    return git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The pin of a stack's bootstrap commit. */
export function pinRef(stack: string): string {
  return `refs/raibid-ci/bootstrap/${stack.replace(/[^\w.-]/g, '_')}`;
}

/** The files of `commit` in the repository at `root`. */
export function commitTree(root: string, commit: string): SourceTree {
  return {
    name: `commit ${commit.slice(0, 12)}`,
    read(path) {
      try {
        return git(root, ['show', `${commit}:${path}`]);
      } catch {
        return undefined;
      }
    },
    yamlFiles(dir) {
      return git(root, ['ls-tree', '-r', '--name-only', commit, '--', `${dir.replace(/\/$/, '')}/`])
        .split('\n')
        .filter((f) => f.endsWith('.yaml'))
        .sort();
    },
  };
}

/** The files of a folder on disk (tests, and the synth output before it is committed). */
export function folderTree(root: string): SourceTree {
  return {
    name: root,
    read: (path) => (existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : undefined),
    yamlFiles: (dir) => (existsSync(join(root, dir)) ? yamlFiles(join(root, dir)).map((f) => relative(root, resolve(f))).sort() : []),
  };
}

/**
 * Files under `paths` where the working tree (committed or not) differs from `commit`: what the
 * bootstrap does NOT apply, since it applies the commit.
 */
export function differingFiles(root: string, commit: string, paths: readonly string[]): string[] {
  try {
    return git(root, ['diff', '--name-only', commit, '--', ...paths]).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Resolves the bootstrap commit (the stack's pin, else `refs/heads/<flux.branch>`, pinned when `pin`),
 * checks that it carries the synthesized clusters/<name>/, and bundles it into the git directory.
 */
export const snapshotRepository: SnapshotRepository = (root, c, stack = 'default', options = {}) => {
  const branch = c.flux.branch;
  const ref = pinRef(stack);
  const pinned = commitOf(root, ref);
  const commit = pinned ?? commitOf(root, `refs/heads/${branch}`);
  if (!commit) throw new Error(`branch ${JSON.stringify(branch)} (flux.branch) is not in the git repository at ${root}; bootstrap pushes that branch to Gitea for Flux`);
  const entry = `clusters/${c.cluster.name}/kustomization.yaml`;
  try {
    git(root, ['cat-file', '-e', `${commit}:${entry}`]);
  } catch {
    throw new Error(`branch ${branch} has no ${entry}: run \`npm run synth\` and commit clusters/, infrastructure/ and apps/ before bootstrapping (Flux reconciles what is committed)`);
  }
  if (!pinned && options.pin) git(root, ['update-ref', ref, commit]);
  const dir = resolve(root, git(root, ['rev-parse', '--git-dir']).trim(), 'raibid-ci');
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, `bootstrap-${commit}.bundle`);
  // The bundle's one head points at the commit (pinned or the branch's): what the push script looks for.
  const head = commitOf(root, ref) === commit ? ref : `refs/heads/${branch}`;
  if (!existsSync(bundlePath)) git(root, ['bundle', 'create', bundlePath, head]);
  return { branch, commit, bundlePath };
};
