/** `raibid scale POOL N`: the command line around scale.ts (see there for how synth runs). */
import type { ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import { CliConfigError, configFilePath, readConfigFile } from './config.js';
import type { CliIo } from './main.js';
import { checkoutFor, parseScaleTarget, scalePool, scaleReport, ScaleError } from './scale.js';

/** The config file's `checkout:`, if any (a broken config file is the user's to fix: exit 2). */
export function configuredCheckout(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return readConfigFile(configFilePath(env))?.checkout;
  } catch (e) {
    if (e instanceof CliConfigError) throw new UsageError(e.message);
    throw e;
  }
}

export async function runScale(a: ParsedArgs, io: CliIo): Promise<number> {
  const [pool, n, extra] = a.positionals;
  if (pool === undefined || n === undefined) throw new UsageError('raibid scale needs a pool and a number: raibid scale POOL N (see raibid scale --help)');
  if (extra !== undefined) throw new UsageError(`raibid scale: unexpected argument ${JSON.stringify(extra)}`);
  try {
    const target = parseScaleTarget(n);
    const { root, tried } = checkoutFor(io.cwd ?? process.cwd(), io.env, a.values.dir as string | undefined, configuredCheckout(io.env));
    if (!root) throw new ScaleError(`no raibid-ci checkout at ${tried} (a folder with raibid.yaml): run raibid scale from your checkout, or pass --dir`);
    const r = await scalePool({ root, pool, target, env: io.env });
    const lines = scaleReport(r);
    if (!r.ok) {
      for (const l of lines) io.err(l);
      io.err(`raibid: ${r.summary}`);
      return 1;
    }
    for (const l of lines) io.out(l);
    io.out(r.summary);
    return 0;
  } catch (e) {
    if (e instanceof ScaleError) throw new UsageError(e.message);
    throw e;
  }
}
