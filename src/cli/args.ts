/**
 * Command-line parsing shared by every `raibid` command: node:util parseArgs, strict, with `-h/--help`
 * on every command. A mistake is a {@link UsageError}: one line, exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: one line, exit 2. */
export class UsageError extends Error {}

export type ParsedArgs = { values: Record<string, string | boolean | undefined>; positionals: string[] };

export function parse(args: readonly string[], options: ParseArgsConfig['options'] = {}): ParsedArgs {
  try {
    const r = parseArgs({ args: [...args], options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}
