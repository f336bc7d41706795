/**
 * The Pulumi program: reads the stack config, raibid.yaml and the synth output, then declares the
 * Bootstrap. Everything that can be wrong on this side (stack config, raibid.yaml, a missing synth or
 * commit) fails here, before anything touches the machine.
 */
import * as pulumi from '@pulumi/pulumi';
import { configPath, loadConfig } from '../config/loader.js';
import { Bootstrap, type BootstrapInputs, type BootstrapOutputs } from './bootstrap.js';
import { readBootstrapBundle, readFluxSync } from './manifests.js';
import { snapshotRepository, type SnapshotRepository } from './repo-snapshot.js';
import { checkStackAgainstConfig, readStackConfig } from './stack-config.js';

export interface LoadOptions {
  /** Repository root: synth output and git repository. @default the working directory (where Pulumi.yaml is) */
  readonly root?: string;
  /** Stack config namespace reader. @default new pulumi.Config('raibid-ci') */
  readonly stackConfig?: pulumi.Config;
  /** How the repository is packed for the push. @default git bundle of flux.branch */
  readonly snapshot?: SnapshotRepository;
}

/** Reads every input of the bootstrap; throws with a message naming what to fix. */
export function loadInputs(options: LoadOptions = {}): BootstrapInputs {
  const root = options.root ?? process.cwd();
  const stack = readStackConfig(options.stackConfig);
  const config = loadConfig(stack.raibidConfig ?? configPath([], process.env));
  checkStackAgainstConfig(stack, config);
  const bundle = readBootstrapBundle(root);
  const fluxSync = readFluxSync(root, config);
  const repo = (options.snapshot ?? snapshotRepository)(root, config);
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
