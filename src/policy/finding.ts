/** One problem found in the synthesized output. */
export interface Finding {
  /** Rule identifier, e.g. `schema`, `pss-restricted`, `image-pinned`. */
  readonly rule: string;
  /** File (and document index) the object came from. */
  readonly where: string;
  /** `Kind/name` of the offending object. */
  readonly object: string;
  /** Field path inside the object, e.g. `spec.template.spec.containers[0].image`. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
}

/** Formats a finding as one line: `where: Kind/name: path: message [rule]`. */
export function formatFinding(f: Finding): string {
  return `${f.where}: ${f.object}: ${f.path ? f.path + ': ' : ''}${f.message} [${f.rule}]`;
}
