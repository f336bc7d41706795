/**
 * Step 5c: the Kubernetes Secrets of the catalogue (src/secrets/catalog.ts), each in its namespace with
 * exactly the catalogued keys. Values arrive through a resolver (random, copy, config or Gitea token), so
 * the same component makes the Secrets needed before Gitea and, later, those holding Gitea tokens.
 */
import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { RaibidConfig } from '../config/resolve.js';
import { secretNamespace, type SecretSpec, type SecretValue } from '../secrets/catalog.js';
import { componentLabels } from '../labels.js';
import type { After } from './deps.js';

/** Produces the value of one key of one catalogue entry. */
export type ResolveSecretValue = (spec: SecretSpec, key: string, value: SecretValue) => pulumi.Output<string>;

export interface SecretsArgs {
  readonly config: RaibidConfig;
  /** The catalogue entries this step creates. */
  readonly specs: readonly SecretSpec[];
  readonly resolve: ResolveSecretValue;
  readonly provider: k8s.Provider;
  /** Their namespaces (and, for token Secrets, the tokens). */
  readonly after: After;
}

/** Annotation carrying the catalogue's description of a Secret. */
export const DESCRIPTION_ANNOTATION = 'raibid-ci/description';

export class Secrets extends pulumi.ComponentResource {
  /** `<namespace>/<name>` → Secret. */
  readonly secrets: ReadonlyMap<string, k8s.core.v1.Secret>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Secrets', name, {}, opts);
    const secrets = new Map<string, k8s.core.v1.Secret>();
    for (const spec of args.specs) {
      const namespace = secretNamespace(args.config, spec);
      const values: Record<string, pulumi.Output<string>> = {};
      for (const [key, value] of Object.entries(spec.keys)) values[key] = args.resolve(spec, key, value);
      secrets.set(
        `${namespace}/${spec.name}`,
        new k8s.core.v1.Secret(
          `${name}-${namespace}-${spec.name}`,
          {
            metadata: {
              name: spec.name,
              namespace,
              labels: componentLabels(spec.name, 'secret'),
              annotations: { [DESCRIPTION_ANNOTATION]: spec.description },
            },
            type: 'Opaque',
            // The whole map is secret, including keys whose value comes from the config.
            stringData: pulumi.secret(pulumi.all(values)),
          },
          { parent: this, provider: args.provider, dependsOn: args.after },
        ),
      );
    }
    this.secrets = secrets;
    this.registerOutputs({});
  }
}
