/**
 * StorageClasses: k3s local-path with reclaimPolicy Retain for stateful data.
 * (Stub: filled in by its issue.)
 */
import type { Construct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';

export class Storage extends ComponentChart {
  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: true });
  }
}
