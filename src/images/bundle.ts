/**
 * Bundles the raibid command (src/cli/entry.ts) into one ESM file with esbuild: what the API and agent
 * images carry (no node_modules). The stack (cdk8s, constructs, Pulumi) must never be reached from the
 * runtime: the bundle fails naming the importer if it is.
 *
 *   npm run bundle            → build/raibid.mjs
 *
 * The image builds run this file too (images/<name>/Dockerfile); what it reads is part of every image's
 * tag (src/images/inputs.ts).
 */
import { build, type Plugin } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUNDLE_ENTRY = resolve(ROOT, 'src/cli/entry.ts');
export const DEFAULT_BUNDLE = resolve(ROOT, 'build/raibid.mjs');

/** Packages the runtime must not import. */
export const STACK_PACKAGES = /^(cdk8s|cdk8s-plus-\d+|constructs|@pulumi\/.*|kubernetes-models|@kubernetes-models\/.*)(\/.*)?$/;

/** Fails the build naming the importer when runtime code imports a {@link STACK_PACKAGES} package. */
export const refuseStack: Plugin = {
  name: 'refuse-stack',
  setup(b) {
    b.onResolve({ filter: STACK_PACKAGES }, (args) => ({ errors: [{ text: `the runtime imports ${args.path} (from ${args.importer.replace(`${ROOT}/`, '')}); runtime code must not import the stack` }] }));
  },
};

/**
 * ink loads its React DevTools bridge only when DEV=true, but imports react-devtools-core statically,
 * and that package is not installed: the bundle gets an inert stand-in for it, so the dashboard
 * (`raibid tui`) is in the image like every other command.
 */
export const stubReactDevtools: Plugin = {
  name: 'stub-react-devtools',
  setup(b) {
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'raibid-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'raibid-stub' }, () => ({ contents: 'export default { initialize() {}, connectToDevTools() {} };', loader: 'js' }));
  },
};

/** Builds the bundle; resolves with its path and size. Throws with esbuild's messages on failure. */
export async function bundleRaibid(outfile = DEFAULT_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  const r = await build({
    entryPoints: [BUNDLE_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    plugins: [refuseStack, stubReactDevtools],
    // An executable file (the images link it as /usr/local/bin/raibid); CommonJS dependencies call
    // require(), so the ESM bundle gets one.
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __raibidRequire } from 'node:module'; const require = __raibidRequire(import.meta.url);" },
  });
  const bytes = Object.values(r.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { outfile, bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleRaibid(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (r) => console.log(`bundled ${r.outfile} (${(r.bytes / 1024).toFixed(0)} KiB)`),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
