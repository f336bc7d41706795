/** What `raibid tui` needs before it draws: the API client and, for + and -, the checkout. */
import type { ParsedArgs } from './args.js';
import { ApiClient } from './client.js';
import { apiTargetOf } from './config.js';
import type { CliIo } from './main.js';
import { checkoutFor } from './scale.js';

export function prepareTui(a: ParsedArgs, io: CliIo): { client: ApiClient; checkout?: string; noCheckout?: string } {
  const target = apiTargetOf(a.values, io.env);
  const { root, tried } = checkoutFor(io.cwd ?? process.cwd(), io.env, a.values.dir as string | undefined, target.checkout);
  return {
    client: new ApiClient({ url: target.url, token: target.token }),
    checkout: root,
    noCheckout: root ? undefined : `+/- edit raibid.yaml in a raibid-ci checkout, and there is none at ${tried}: start raibid tui there, or pass --dir`,
  };
}
