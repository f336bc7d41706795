/**
 * The Pulumi program: reads the stack config, raibid.yaml and the synth output of the bootstrap commit,
 * then declares the Bootstrap. Everything that can be wrong on this side (stack config, host key,
 * raibid.yaml, a missing synth or commit) fails here, before anything touches the machine.
 */
import * as pulumi from '@pulumi/pulumi';
import { configPath, loadConfig } from '../config/loader.js';
import { checkHostKey, type ScanHostKey, sshKeyscan } from './connection.js';
import { Bootstrap, type BootstrapInputs, type BootstrapOutputs } from './bootstrap.js';
import { readBootstrapBundle, readFluxSync } from './manifests.js';
import { BOOTSTRAP_BUNDLE } from '../gitops/render.js';
import { commitTree, differingFiles, pinRef, snapshotRepository, type SnapshotRepository, type SourceTree } from './repo-snapshot.js';
import { checkStackAgainstConfig, readStackConfig } from './stack-config.js';

export interface LoadOptions {
  /** Repository root: synth output and git repository. @default the working directory (where Pulumi.yaml is) */
  readonly root?: string;
  /** Stack config namespace reader. @default new pulumi.Config('raibid-ci') */
  readonly stackConfig?: pulumi.Config;
  /** How the repository is packed for the push. @default the pinned commit, else flux.branch (repo-snapshot.ts) */
  readonly snapshot?: SnapshotRepository;
  /** Where the applied manifests are read. @default the files of the snapshot's commit */
  readonly tree?: (root: string, commit: string) => SourceTree;
  /** How the machine's host key is asked for before anything runs. @default ssh-keyscan */
  readonly scanHostKey?: ScanHostKey;
}

/** Reads every input of the bootstrap; throws with a message naming what to fix. */
export function loadInputs(options: LoadOptions = {}): BootstrapInputs {
  const root = options.root ?? process.cwd();
  const stack = readStackConfig(options.stackConfig);
  const config = loadConfig(stack.raibidConfig ?? configPath([], process.env));
  checkStackAgainstConfig(stack, config);
  checkHostKey(stack, pulumi.getStack(), options.scanHostKey ?? sshKeyscan);
  const stackName = pulumi.getStack();
  // A preview reads; `pulumi up` pins the commit (repo-snapshot.ts).
  const repo = (options.snapshot ?? snapshotRepository)(root, config, stackName, { pin: !pulumi.runtime.isDryRun() });
  // Exactly what is pushed: the manifests of the bootstrap commit, not of the working tree.
  const tree = (options.tree ?? commitTree)(root, repo.commit);
  const bundle = readBootstrapBundle(tree);
  const fluxSync = readFluxSync(tree, config);
  if (!options.tree) {
    const differ = differingFiles(root, repo.commit, [BOOTSTRAP_BUNDLE, `clusters/${config.cluster.name}/`]);
    if (differ.length > 0) {
      void pulumi.log.warn(
        `applying ${BOOTSTRAP_BUNDLE} and clusters/${config.cluster.name}/ of the bootstrap commit ${repo.commit.slice(0, 12)} (${pinRef(stackName)}), which is what Gitea gets; the working tree differs in ${differ.join(', ')}: those changes reach the cluster by git push to Gitea`,
      );
    }
  }
  return { stack, config, bundle, fluxSync, repo };
}

/** Declares the bootstrap and returns the stack outputs. */
export function runBootstrap(inputs: BootstrapInputs, opts?: pulumi.ComponentResourceOptions): BootstrapOutputs {
  return new Bootstrap('raibid', inputs, opts).outputs;
}

/** Entry point for `pulumi up` (the default export of index.ts). */
export async function bootstrap(options: LoadOptions = {}): Promise<BootstrapOutputs> {
  return runBootstrap(loadInputs(options));
}
