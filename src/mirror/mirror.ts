/**
 * Repository mirroring (namespace `ci`, apps layer): `raibid mirror sync` as a CronJob, which keeps
 * Gitea's pull mirrors of GitHub repositories and organisations equal to raibid.yaml's `mirrors`.
 *
 * - CronJob `raibid-mirror` on `mirrors.schedule` (daily by default): one run at a time, suspended while
 *   `mirrors.sources` is empty; the API image's `raibid` command (the same bundle), hardened like every
 *   workload; Gitea as the bot user with its own mirror token, GitHub with the optional `github-mirror` token;
 * - ConfigMap `raibid-mirror` (`mirrors.yaml`, src/mirror/contract.ts), mounted at /etc/raibid-mirror;
 * - ServiceAccount `raibid-mirror` without an API token (it talks to no Kubernetes API);
 * - NetworkPolicy: egress to Gitea's HTTP port and to public addresses on 443 (GitHub's API), nothing else.
 *
 * Gitea's own pulls (every `interval`) and the API's webhook-triggered syncs keep the mirrors current in
 * between; this job adds mirrors for new repositories of mirrored organisations and applies changed settings.
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
import { ApiObject, Cron, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { stringify } from 'yaml';
import { containerResources, restrictedContainer } from '../storage/hardened-workload.js';
import { GITEA_HTTP_PORT, giteaInternalUrl } from '../endpoints.js';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { allowTraffic } from '../network/policy.js';
import { AGENT_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { secretName } from '../secrets/catalog.js';
import { API_UID } from '../api/api.js';
import { MIRROR_CONFIG_DIR, MIRROR_ENV, MIRROR_SETTINGS_FILE, MIRROR_SETTINGS_KEY, MIRROR_SYNC_ARGS } from './contract.js';
import { mirrorSettings } from './settings.js';

/** Name of the CronJob, its ConfigMap, ServiceAccount and NetworkPolicy. */
export const MIRROR_NAME = 'raibid-mirror';
/** Size limit of the job's /tmp emptyDir, MiB. */
export const MIRROR_TMP_MEBIBYTES = 64;

/** `17 4 * * *` → cdk8s Cron (validated by the config schema). */
function cron(schedule: string): Cron {
  const [minute, hour, day, month, weekDay] = schedule.trim().split(/\s+/);
  return Cron.schedule({ minute, hour, day, month, weekDay });
}

/** The mirror reconciler. */
export class Mirror extends ComponentChart {
  /** The image the job runs (mirrors.image, else the API image). */
  readonly image: string;
  /** Whether the CronJob is suspended (no sources). */
  readonly suspended: boolean;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'apps', bootstrap: false });
    const c = props.config;
    const m = c.mirrors;
    const namespace = c.namespaces.ci;
    const labels = componentLabels(MIRROR_NAME, 'mirror');
    this.image = m.image ?? c.api.image;
    this.suspended = m.sources.length === 0;

    const sa = new kplus.ServiceAccount(this, 'service-account', { metadata: { name: MIRROR_NAME, namespace, labels }, automountToken: false });
    const config = new kplus.ConfigMap(this, 'config', { metadata: { name: MIRROR_NAME, namespace, labels }, data: { [MIRROR_SETTINGS_KEY]: stringify(mirrorSettings(c), { lineWidth: 0 }) } });
    const secretEnv = (sid: string, secret: string, key: string) => kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, sid, secretName(secret)), key });

    const cronJob = new kplus.CronJob(this, 'Resource', {
      metadata: { name: MIRROR_NAME, namespace, labels },
      podMetadata: { labels },
      schedule: cron(m.schedule),
      suspend: this.suspended,
      concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
      startingDeadline: Duration.hours(1),
      successfulJobsRetained: 1,
      failedJobsRetained: 3,
      // One more try for a run that failed (a repository it could not mirror, GitHub down); then tomorrow.
      backoffLimit: 1,
      // Room for a large organisation's migrations and for GitHub's rate limit to reset.
      activeDeadline: Duration.hours(3),
      serviceAccount: sa,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: API_UID, group: API_UID },
      containers: [
        {
          name: 'mirror',
          image: this.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          args: [...MIRROR_SYNC_ARGS],
          envVariables: {
            [MIRROR_ENV.settings]: kplus.EnvValue.fromValue(MIRROR_SETTINGS_FILE),
            [MIRROR_ENV.giteaUrl]: kplus.EnvValue.fromValue(giteaInternalUrl(c)),
            // The bot, with a token only this job holds: it may create the mirror organisations.
            [MIRROR_ENV.giteaToken]: secretEnv('gitea-token', 'gitea-mirror-token', 'token'),
            // Empty when the stack sets no raibid-ci:githubToken: public repositories only.
            [MIRROR_ENV.githubToken]: secretEnv('github-token', 'github-mirror', 'token'),
          },
          resources: containerResources(m.resources, 'mirrors.resources'),
          securityContext: restrictedContainer(API_UID, API_UID),
          volumeMounts: [
            { path: MIRROR_CONFIG_DIR, volume: kplus.Volume.fromConfigMap(this, 'config-volume', config, { name: 'config' }), readOnly: true },
            { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'tmp-volume', 'tmp', { sizeLimit: Size.mebibytes(MIRROR_TMP_MEBIBYTES) }) },
          ],
        },
      ],
    });
    // cdk8s-plus-28 has no priorityClassName. Maintenance ranks with the agents: it waits for room and
    // is evicted before the platform.
    ApiObject.of(cronJob).addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/priorityClassName', AGENT_PRIORITY_CLASS));

    allowTraffic(this, 'network-policy', {
      config: c,
      name: MIRROR_NAME,
      namespace,
      pods: selectorLabels(MIRROR_NAME),
      egress: [
        { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('gitea') }], ports: [GITEA_HTTP_PORT] },
        // GitHub's REST API (and nothing on the LAN or in the cluster).
        { peers: [{ internet: true }], ports: [443] },
      ],
    });
  }
}
