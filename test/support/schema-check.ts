/**
 * A small structural validator for the schemas kept as upstream fixtures: a CRD's openAPIV3Schema and a
 * Helm chart's values.schema.json. It knows exactly the keywords those fixtures use and throws on any
 * other, so a fixture update that brings a new keyword fails loudly instead of validating nothing.
 *
 * Unknown fields: `reject` is the API server's strict field validation (a field outside `properties` is
 * an error unless `additionalProperties` or `x-kubernetes-preserve-unknown-fields` allows it); `allow` is
 * JSON Schema as Helm applies it (no `additionalProperties: false`, no error).
 * CEL rules (`x-kubernetes-validations`) are collected, not evaluated: the caller checks them.
 */
export interface SchemaNode {
  readonly [keyword: string]: unknown;
}

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'pattern',
  'minItems',
  'maxItems',
  'maxLength',
  'minLength',
  'minimum',
  'maximum',
  'uniqueItems',
  'additionalProperties',
  'format',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  '$schema',
  '$comment',
  'x-chart-version',
]);

export interface CheckOptions {
  readonly unknownFields: 'reject' | 'allow';
}

export interface CheckResult {
  /** One line per problem: `path: what is wrong`. */
  readonly problems: string[];
  /** CEL rules met on the way, with the path of the object they apply to. */
  readonly celRules: { path: string; rule: string; message?: string }[];
}

const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : Number.isInteger(v) ? 'integer' : typeof v);

export function checkAgainstSchema(value: unknown, schema: SchemaNode, options: CheckOptions): CheckResult {
  const problems: string[] = [];
  const celRules: CheckResult['celRules'] = [];
  const visit = (v: unknown, s: SchemaNode, path: string): void => {
    for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${JSON.stringify(k)} at ${path || '<root>'} is not supported by test/support/schema-check.ts; teach it before using this fixture`);
    const at = path || '<root>';
    for (const r of (s['x-kubernetes-validations'] as { rule: string; message?: string }[] | undefined) ?? []) celRules.push({ path: at, rule: r.rule, message: r.message });
    const actual = typeOf(v);
    const types = s.type === undefined ? [] : Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const intOrString = s['x-kubernetes-int-or-string'] === true;
    if (intOrString ? !['integer', 'string'].includes(actual) : types.length && !types.some((t) => t === actual || (t === 'number' && actual === 'integer'))) {
      problems.push(`${at}: expected ${intOrString ? 'integer or string' : types.join(' or ')}, got ${actual} ${JSON.stringify(v)}`);
      return;
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) problems.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
    if (typeof v === 'string') {
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) problems.push(`${at}: ${JSON.stringify(v)} does not match ${s.pattern}`);
      if (typeof s.maxLength === 'number' && v.length > s.maxLength) problems.push(`${at}: longer than ${s.maxLength}`);
      if (typeof s.minLength === 'number' && v.length < s.minLength) problems.push(`${at}: shorter than ${s.minLength}`);
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) problems.push(`${at}: below ${s.minimum}`);
      if (typeof s.maximum === 'number' && v > s.maximum) problems.push(`${at}: above ${s.maximum}`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) problems.push(`${at}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) problems.push(`${at}: more than ${s.maxItems} items`);
      if (s.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) problems.push(`${at}: items are not unique`);
      if (s.items && typeof s.items === 'object') v.forEach((x, i) => visit(x, s.items as SchemaNode, `${path}[${i}]`));
    }
    if (actual === 'object') {
      const obj = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, SchemaNode>;
      for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) problems.push(`${at}: missing required field ${JSON.stringify(r)}`);
      for (const [k, x] of Object.entries(obj)) {
        const p = path ? `${path}.${k}` : k;
        if (props[k]) visit(x, props[k], p);
        else if (typeof s.additionalProperties === 'object') visit(x, s.additionalProperties as SchemaNode, p);
        else if (options.unknownFields === 'reject' && s['x-kubernetes-preserve-unknown-fields'] !== true && s.additionalProperties !== true && (s.properties !== undefined || s.additionalProperties === false)) {
          problems.push(`${p}: unknown field (not in the schema)`);
        }
      }
    }
  };
  visit(value, schema, '');
  return { problems, celRules };
}
