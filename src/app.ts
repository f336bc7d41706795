/**
 * The whole raibid-ci stack as one cdk8s App: one chart per component, in dependency order.
 * A newcomer finds each component here in one hop.
 */
import { App } from 'cdk8s';
import type { RaibidConfig } from './config/resolve.js';
import { ClusterChart } from './gitops/cluster.js';
import { Namespaces } from './namespaces/namespaces.js';

/** Builds every chart for a config. `outdir` is where `app.synth()` would write (dist/). */
export function buildApp(config: RaibidConfig, outdir = 'dist'): App {
  const app = new App({ outdir });
  new Namespaces(app, 'namespaces', { config });
  new ClusterChart(app, 'cluster', { config });
  return app;
}
