/**
 * One-shot remote commands: those whose every run has an effect worth avoiding (a new Gitea token, which
 * breaks the pods holding the old one until they restart) or that only make sense once (the first push).
 *
 * @pulumi/command runs `create` again in place when an input changes, and replaces the command (running
 * `delete`, then `create`) when `triggers` change. A one-shot command names in `triggers` what it is
 * about (a token's owner, name and scopes; the repository's organisation, name and branch).
 *
 * Only `connection` (a new key, another port) and `logging` are ignored. `create`, `delete` and `stdin`
 * never are: the engine copies an ignored input back from the state before it diffs or replaces, so a
 * replacement would run the script recorded at creation (old organisation, old scopes, old bot
 * password) instead of the current one.
 *
 * What follows from that:
 * - Every one-shot script but the tokens' converges (it creates what is missing, brings what exists
 *   back to the declared state, or does nothing), so running it again after an edit of its wording is
 *   harmless.
 * - A token script is built only from its `triggers` (tokenTriggers in gitea.ts), so it changes only
 *   when they change or when the code of tokenScript itself changes; both issue a new token, and the
 *   same `pulumi up` writes it into its Secret.
 * - A bot token gets the bot's password on stdin: a new password issues new bot tokens.
 *
 * Pulumi keeps the connection the command was created with and uses it for `delete` (token revocation on
 * destroy or replacement). When that connection no longer works (the old key was removed), forget the
 * command (`pulumi state delete <urn>`) and run `pulumi up`: it is created anew with the current
 * connection, and a token script creates the new token, then deletes the old one of that name
 * (tokenScript alternates between two names, so the new one exists before the old one goes).
 */
import type * as pulumi from '@pulumi/pulumi';

/** Inputs a one-shot command never re-runs for. */
export const ONE_SHOT_IGNORED = ['connection', 'logging'] as const;

/** `ignoreChanges` of a one-shot command. */
export function oneShot(): Pick<pulumi.CustomResourceOptions, 'ignoreChanges'> {
  return { ignoreChanges: [...ONE_SHOT_IGNORED] };
}
