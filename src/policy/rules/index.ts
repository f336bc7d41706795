/**
 * All policy rules (security and reliability), run over every synthesized object. A finding inside a
 * namespace on the Pod Security allowlist (src/policy/exceptions.ts) is suppressed when the
 * exception names its rule; an exception that suppresses nothing is itself a finding.
 */
import type { RaibidConfig } from '../../config/resolve.js';
import type { LoadedDocument } from '../documents.js';
import type { Finding } from '../finding.js';
import { POD_SECURITY_EXCEPTIONS } from '../exceptions.js';
import { buildContext, label, type Report, type Rule } from './context.js';
import { podHardeningRule, podSecurityRule, serviceAccountRule } from './pods.js';
import { rbacRule, secretsRule, selectorRule, serviceRule, storageRule } from './objects.js';
import { apiServerEgressRule, namespaceLabelRule, networkPolicyRule } from './namespaces.js';

/** Every rule, by the order their findings are listed in. */
export const RULES: readonly Rule[] = [
  podSecurityRule,
  podHardeningRule,
  serviceAccountRule,
  serviceRule,
  selectorRule,
  rbacRule,
  secretsRule,
  storageRule,
  namespaceLabelRule,
  networkPolicyRule,
  apiServerEgressRule,
];

/** Runs every policy rule over the objects (kustomize config files excluded). */
export function checkPolicies(docs: readonly LoadedDocument[], config: RaibidConfig, rules: readonly Rule[] = RULES): Finding[] {
  const ctx = buildContext(docs, config);
  const findings: Finding[] = [];
  const used = new Set<string>();
  const report: Report = (rule, where, owner, path, message) => {
    const ns = owner.metadata?.namespace;
    const exception = POD_SECURITY_EXCEPTIONS.find((e) => config.namespaces[e.namespaceKey] === ns && e.rules.includes(rule));
    if (exception) {
      used.add(exception.namespaceKey);
      return;
    }
    findings.push({ rule, where, object: label(owner), path, message });
  };
  for (const rule of rules) rule(ctx, report);
  if (rules === RULES) {
    for (const e of POD_SECURITY_EXCEPTIONS) {
      const ns = config.namespaces[e.namespaceKey];
      const present = ctx.objects.some(({ obj }) => obj.kind === 'Namespace' && obj.metadata.name === ns);
      if (present && !used.has(e.namespaceKey)) findings.push({ rule: 'exception-unused', where: 'src/policy/exceptions.ts', object: `Namespace/${ns}`, path: '', message: `the Pod Security exception for ${ns} is not used by any object; remove it` });
    }
  }
  return findings;
}
