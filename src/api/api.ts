/**
 * The webhook API that turns Gitea webhooks into queued jobs.
 * (Stub: filled in by its issue.)
 */
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';

export class Api extends ComponentChart {
  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'apps', bootstrap: false });
  }
}
