/**
 * The whole raibid-ci stack as one cdk8s App: one chart per component, in dependency order.
 * A newcomer finds each component here in one hop.
 *
 *   infrastructure/controllers: namespaces, storage, scheduling, keda
 *   infrastructure/configs:     gitea (+ PostgreSQL), redis, dns
 *   infrastructure/images:      buildkit, builds (one Job per image the apps run, src/images/)
 *   apps:                       agents, api, mirror (GitHub repositories kept as Gitea pull mirrors)
 *   clusters/<name>:            the Flux Kustomizations that apply the four layers in order
 */
import { App } from 'cdk8s';
import type { RaibidConfig } from './config/resolve.js';
import { ClusterChart } from './gitops/cluster.js';
import { Namespaces } from './namespaces/namespaces.js';
import { Storage } from './storage/storage.js';
import { Scheduling } from './scheduling/priority-classes.js';
import { Keda } from './keda/keda.js';
import { Gitea } from './gitea/gitea.js';
import { Redis } from './redis/redis.js';
import { Dns } from './dns/dns.js';
import { BuildKit } from './buildkit/buildkit.js';
import { ImageBuilds } from './images/builds.js';
import { Agents } from './agents/agents.js';
import { Api } from './api/api.js';
import { Mirror } from './mirror/mirror.js';

/** Builds every chart for a config. `outdir` is where `app.synth()` would write (dist/). */
export function buildApp(config: RaibidConfig, outdir = 'dist'): App {
  const app = new App({ outdir });
  new Namespaces(app, 'namespaces', { config });
  new Storage(app, 'storage', { config });
  new Scheduling(app, 'scheduling', { config });
  new Keda(app, 'keda', { config });
  new Gitea(app, 'gitea', { config });
  new Redis(app, 'redis', { config });
  new Dns(app, 'dns', { config });
  if (config.buildkit.enabled) new BuildKit(app, 'buildkit', { config });
  new ImageBuilds(app, 'builds', { config });
  new Agents(app, 'agents', { config });
  new Api(app, 'api', { config });
  new Mirror(app, 'mirror', { config });
  new ClusterChart(app, 'cluster', { config });
  return app;
}
