/**
 * The one config type: the schema of raibid.yaml, with every default.
 * With no file at all, these defaults describe a complete stack on a DGX Spark.
 */
import { z } from 'zod';
import { clusterSection, fluxSection, namespacesSection, nodeSection } from './sections/cluster.js';
import { giteaSection, kedaSection, networkSection, redisSection, storageSection } from './sections/platform.js';
import { agentsSection, apiSection, buildkitSection, imagesSection, jobsSection } from './sections/apps.js';
import { mirrorsSection } from './sections/mirrors.js';

export const raibidSchema = z
  .strictObject({
    cluster: clusterSection,
    node: nodeSection,
    namespaces: namespacesSection,
    flux: fluxSection,
    storage: storageSection,
    network: networkSection,
    gitea: giteaSection,
    redis: redisSection,
    keda: kedaSection,
    agents: agentsSection,
    api: apiSection,
    jobs: jobsSection,
    buildkit: buildkitSection,
    images: imagesSection,
    mirrors: mirrorsSection,
  })
  .describe('raibid-ci configuration (raibid.yaml). Every key is optional.');

/** raibid.yaml as written by a user (every key optional). */
export type RaibidConfigInput = z.input<typeof raibidSchema>;
/** raibid.yaml after defaults are applied. */
export type ParsedConfig = z.output<typeof raibidSchema>;
