/**
 * Snapshots that contain the content tags of raibid-ci's images (src/images/inputs.ts) would change with
 * every edit of the runtime or a Dockerfile. This serializer writes `<tag:raibid-api>` instead of the
 * current tag, so a snapshot shows where a tag goes but not its value; tests that care about the value
 * compare it with imageSources() directly.
 */
import type { SnapshotSerializer } from 'vitest';
import { imageSources } from '../src/images/inputs.js';

let tags: [string, string][] | undefined;
const current = () => (tags ??= [...imageSources().values()].map((s) => [s.tag, `<tag:${s.name}>`]));

/** Replaces every current image tag in a string by `<tag:<image>>`. */
export function maskImageTags(text: string): string {
  return current().reduce((s, [tag, mask]) => s.split(tag).join(mask), text);
}

/** `expect.addSnapshotSerializer(imageTagSerializer)` in a test file whose snapshots hold image tags. */
export const imageTagSerializer: SnapshotSerializer = {
  test: (v: unknown) => typeof v === 'string' && current().some(([tag]) => v.includes(tag)),
  serialize: (v: string, config, indentation, depth, refs, printer) => printer(maskImageTags(v), config, indentation, depth, refs),
};
