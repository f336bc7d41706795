/**
 * Step 5b: every random value of the secret catalogue, generated once with @pulumi/random and kept in
 * the (encrypted) Pulumi state. `result` of a RandomPassword is a secret output.
 */
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { SECRETS } from '../secrets/catalog.js';

export class Credentials extends pulumi.ComponentResource {
  /** `<secret>/<key>` → generator, for every `random` key of the catalogue. */
  readonly passwords: ReadonlyMap<string, random.RandomPassword>;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Credentials', name, {}, opts);
    const passwords = new Map<string, random.RandomPassword>();
    for (const spec of SECRETS) {
      for (const [key, value] of Object.entries(spec.keys)) {
        if (value.from !== 'random') continue;
        const special = value.special ?? false;
        passwords.set(
          `${spec.name}/${key}`,
          new random.RandomPassword(
            `${name}-${spec.name}-${key}`,
            // Alphanumeric unless asked otherwise: the values end up in URLs, INI files and ACL lines.
            { length: value.length, special, upper: true, lower: true, numeric: true, ...(special ? {} : { minUpper: 1, minLower: 1, minNumeric: 1 }) },
            { parent: this },
          ),
        );
      }
    }
    this.passwords = passwords;
    this.registerOutputs({});
  }

  /** The value of a random catalogue key, as a secret. */
  value(secret: string, key: string): pulumi.Output<string> {
    const pw = this.passwords.get(`${secret}/${key}`);
    if (!pw) throw new Error(`internal: ${secret}/${key} is not a random key of src/secrets/catalog.ts`);
    return pulumi.secret(pw.result);
  }
}
