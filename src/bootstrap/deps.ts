/**
 * Explicit step ordering. A step's children depend on everything the previous steps created; this
 * includes children a step creates asynchronously (the per-object resources of a ConfigGroup), which a
 * plain `dependsOn: [component]` could miss.
 */
import * as pulumi from '@pulumi/pulumi';

/** What a step waits for. */
export type After = pulumi.Input<pulumi.Resource[]>;

/** One list of resources from resources, lists and outputs of lists. */
export function after(...items: readonly (pulumi.Resource | After)[]): pulumi.Output<pulumi.Resource[]> {
  return pulumi.all(items.map((i) => (pulumi.Resource.isInstance(i) ? [i] : i))).apply((lists) => lists.flat());
}
