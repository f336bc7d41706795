/** Configs the benchmark measures; test/gate.test.ts keeps the large one passing the gate. */

const MODES = ['ephemeral', 'pooled', 'direct'] as const;

/** 50 small pools, a third of each mode, each capped so the whole set fits the node. */
export function largeConfig(pools = 50): string {
  const lines = ['agents:', '  pools:'];
  for (let i = 0; i < pools; i++) {
    const mode = MODES[i % 3];
    lines.push(`    - name: pool-${i}`, `      mode: ${mode}`, '      cpu: 250m', '      memory: 512Mi', '      maxReplicas: 1', '      cache: { cargo: 1Gi, sccache: 1Gi }', '      workspace: 5Gi');
    if (mode === 'pooled') lines.push('      slots: 2');
  }
  return lines.join('\n') + '\n';
}

