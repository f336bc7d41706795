/**
 * One-shot remote commands: those whose every run has an effect worth avoiding (a new Gitea token, which
 * breaks the pods holding the old one) or that only make sense once (the first push).
 *
 * @pulumi/command runs `create` again on any change of its inputs, and the inputs change for reasons
 * unrelated to what the command does: the SSH connection (a new key, another port) or the script text
 * (a reworded message). A one-shot command therefore ignores those inputs and names in `triggers` what
 * it is about (a token's owner, name and scopes; the repository's organisation, name and branch): a
 * change there replaces it, as does `pulumi up --replace <urn>`; nothing else re-runs it.
 *
 * The price: Pulumi keeps the connection the command was created with and uses it for `delete` (token
 * revocation on destroy or replacement). When that connection no longer works (the old key was removed),
 * forget the command (`pulumi state delete <urn>`) and run `pulumi up`: it is created anew with the
 * current connection, and a token script replaces the token of the same name.
 */
import type * as pulumi from '@pulumi/pulumi';

/** Inputs a one-shot command never re-runs for. */
export const ONE_SHOT_IGNORED = ['connection', 'create', 'delete', 'logging'] as const;

/** `ignoreChanges` of a one-shot command; `extra`: more inputs to ignore (a token's `stdin`). */
export function oneShot(...extra: readonly string[]): Pick<pulumi.CustomResourceOptions, 'ignoreChanges'> {
  return { ignoreChanges: [...ONE_SHOT_IGNORED, ...extra] };
}
