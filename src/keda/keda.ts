/**
 * KEDA, installed by Flux from the kedacore Helm chart.
 * (Stub: filled in by its issue.)
 */
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';

export class Keda extends ComponentChart {
  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: false });
  }
}
