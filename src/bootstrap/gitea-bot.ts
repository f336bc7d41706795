/**
 * Step 6b′: the bot user (`gitea.bot`), the non-admin Gitea user the agents and the API act as (clone,
 * commit status, image push), so no admin credential runs in a build pod.
 *
 *   password  @pulumi/random, kept only in the (encrypted) Pulumi state; it reaches the machine on the
 *             stdin of the commands that need it, never in a command line, a file or a Kubernetes Secret
 *   user      created through the admin API, or its password and settings re-applied when it exists
 *   team      BOT_TEAM: write access to the code and packages of the organisation's repositories; the
 *             bot is its member
 *
 * The bot's tokens (GiteaTokens, `user: 'bot'` keys of the catalogue) are created as the bot itself.
 * It cannot push to the GitOps branch: the Gitea step protects it (branchProtectionScript).
 */
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import * as random from '@pulumi/random';
import type { RaibidConfig } from '../config/resolve.js';
import type { Connection } from './connection.js';
import { remoteCommand } from './remote.js';
import { after, type After } from './deps.js';
import { botTeamBody, botTeamScript, botUserScript } from './gitea-bot-scripts.js';
import { oneShot } from './one-shot.js';

/** Length of the bot's password (alphanumeric). */
export const BOT_PASSWORD_LENGTH = 32;

export interface GiteaBotArgs {
  readonly connection: Connection;
  readonly config: RaibidConfig;
  /** Gitea ready (the user), and the organisation (the team). */
  readonly after: After;
}

export class GiteaBot extends pulumi.ComponentResource {
  /** The bot's password; `result` is a secret output. */
  readonly password: random.RandomPassword;
  readonly user: command.remote.Command;
  /** The team and the bot's membership. */
  readonly team: command.remote.Command;

  constructor(name: string, args: GiteaBotArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:GiteaBot', name, {}, opts);
    const { connection, config } = args;
    const bot = config.gitea.bot;
    this.password = new random.RandomPassword(
      `${name}-password`,
      { length: BOT_PASSWORD_LENGTH, special: false, upper: true, lower: true, numeric: true, minUpper: 1, minLower: 1, minNumeric: 1 },
      { parent: this },
    );
    this.user = remoteCommand(
      `${name}-user`,
      {
        connection,
        create: botUserScript(config),
        // A new password (`pulumi up --replace` of the generator) changes stdin, which runs the script
        // again: it sets the new password. Tokens stay valid.
        stdin: this.passwordValue(),
        triggers: [bot.username, bot.email],
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ['stdin'], ...oneShot() },
    );
    this.team = remoteCommand(
      `${name}-team`,
      { connection, create: botTeamScript(config), triggers: [config.flux.organization, bot.username, JSON.stringify(botTeamBody())] },
      { parent: this, dependsOn: after(args.after, this.user), ...oneShot() },
    );
    this.registerOutputs({});
  }

  /** The bot's password, as a secret. */
  passwordValue(): pulumi.Output<string> {
    return pulumi.secret(this.password.result);
  }
}

