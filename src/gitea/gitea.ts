/**
 * Gitea with its OCI registry, and PostgreSQL for it.
 * (Stub: filled in by its issue.)
 */
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';

export class Gitea extends ComponentChart {
  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'configs', bootstrap: true });
  }
}
