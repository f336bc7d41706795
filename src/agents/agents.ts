/**
 * CI agent pools (ephemeral, pooled, direct) and their build caches.
 * (Stub: filled in by its issue.)
 */
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';

export class Agents extends ComponentChart {
  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'apps', bootstrap: false });
  }
}
