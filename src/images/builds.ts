/**
 * The image builds (namespace `images`, layer infrastructure/images): one Kubernetes Job per image a
 * workload references and per content tag, named `<image>-<tag>`, which builds the image with the
 * rootless BuildKit daemon from the GitOps repository in Gitea and pushes it to Gitea's registry.
 * The apps layer depends on this layer, so Flux applies the API and the agent pools only after every
 * Job has completed, i.e. after their images exist.
 *
 * Which revision is built: the Job is written at synth time and cannot know the commit Flux applies.
 * It does not need to: the tag is the hash of the image's inputs (inputs.ts), and the Job carries that
 * manifest (ConfigMap `<image>-<tag>-inputs`). Its first container (fetch-inputs.mjs) resolves the
 * branch head, fetches every listed file at that one commit and checks each hash; only a tree whose
 * inputs hash to the tag is built, whichever commit holds it, so the pushed image is exactly the one
 * the tag names. A branch that has moved on to other inputs fails the Job at once (exit 3) with the
 * files that differ; Flux then applies the newer revision, whose Job has the new tag, and prunes this
 * one. A tag already in the registry ends the Job at once without fetching anything.
 *
 * Each pod is an ordinary restricted pod (no exception): a Node container fetches and verifies the
 * inputs, then a buildctl container (the BuildKit image, as a client) sends them to the daemon. The
 * admin's token (Secret `image-builder`: read:repository, write:package) reads the repository and
 * pushes; the images live in the admin's registry namespace, which the bot user of the agents cannot
 * write to. The pods reach Gitea and the BuildKit daemon, nothing else.
 */
import type { Construct } from 'constructs';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltImage, RaibidConfig } from '../config/resolve.js';
import { durationSeconds } from '../config/quantity.js';
import { BUILDKIT_PORT, GITEA_HTTP_PORT, buildkitAddress, giteaInternalUrl } from '../endpoints.js';
import { ComponentChart, manifest, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { allowTraffic } from '../network/policy.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';
import { secretKeyRef } from '../secrets/catalog.js';
import { BUILDKIT_POD_NAME } from '../buildkit/buildkit.js';
import { IMAGE_BUILD_APP, NODE_BASE_IMAGE, imageFolder } from './catalog.js';
import { REPO_ROOT } from './inputs.js';

/** UID/GID of the build pods (the Node image's `node`, the BuildKit image's `user`). */
export const IMAGE_BUILD_UID = 1000;
/** Name of the build pods' ServiceAccount, script ConfigMap and NetworkPolicy. */
export const IMAGE_BUILD_NAME = IMAGE_BUILD_APP;
/** Label naming the image a build Job builds (value: the image name). */
export const IMAGE_LABEL = 'raibid-ci.dev/image';
/** Label carrying the content tag a build Job builds. */
export const IMAGE_TAG_LABEL = 'raibid-ci.dev/image-tag';
/** Exit code of the fetch step when the repository does not hold the tag's inputs (fails the Job without retries). */
export const EXIT_INPUTS_MISMATCH = 3;
/** Retries of a build pod after a failure that may pass (network, Gitea or BuildKit restarting). */
export const BUILD_BACKOFF_LIMIT = 2;
/** Seconds the build step waits for the BuildKit daemon (it is applied with the Jobs and may still be starting). */
export const BUILDKIT_WAIT_SECONDS = 300;

/** Mount paths inside a build pod. */
const WORK = '/work';
const AUTH = '/run/image-build/docker';
const SCRIPT_DIR = '/etc/image-build';
const INPUTS_DIR = '/etc/image-build-inputs';
const MANIFEST_FILE = 'inputs.sha256';
const SCRIPT_FILE = 'fetch-inputs.mjs';

/** The Node script of the first step (src/images/fetch-inputs.mjs). */
export function fetchScript(): string {
  return readFileSync(join(REPO_ROOT, 'src/images/fetch-inputs.mjs'), 'utf8');
}

/** Shell of the build step (busybox sh in the BuildKit image): skip, or wait for the daemon and build. */
export const BUILD_SCRIPT = [
  'set -eu',
  `if [ -f ${WORK}/skip ]; then cat ${WORK}/skip; exit 0; fi`,
  'waited=0',
  'until buildctl debug workers > /dev/null 2>&1; do',
  `  if [ "$waited" -ge ${BUILDKIT_WAIT_SECONDS} ]; then echo "image-build: the BuildKit daemon at $BUILDKIT_HOST did not answer for ${BUILDKIT_WAIT_SECONDS}s" >&2; exit 1; fi`,
  '  sleep 5; waited=$((waited + 5))',
  'done',
  `commit=$(cat ${WORK}/commit)`,
  'echo "image-build: buildctl build $IMAGE_REF"',
  'exec buildctl build --progress plain --frontend dockerfile.v0 \\',
  `  --local context=${WORK}/context --local "dockerfile=${WORK}/context/$DOCKERFILE_DIR" --opt filename=Dockerfile \\`,
  '  --opt "label:org.opencontainers.image.revision=$commit" --opt "label:dev.raibid-ci.inputs=$IMAGE_TAG" \\',
  '  --output "type=image,name=$IMAGE_REF,push=true$REGISTRY_INSECURE"',
].join('\n');

/** Name of the Job (and its inputs ConfigMap prefix) of an image: `<image>-<tag>`. */
export function buildJobName(image: Pick<BuiltImage, 'name' | 'tag'>): string {
  return `${image.name}-${image.tag}`;
}

/** The Job that builds one image. */
export function buildJob(c: RaibidConfig, image: BuiltImage): IJob {
  const namespace = c.namespaces.images;
  const name = buildJobName(image);
  const labels = { ...componentLabels(IMAGE_BUILD_APP, 'image-build'), [IMAGE_LABEL]: image.name, [IMAGE_TAG_LABEL]: image.tag };
  const restricted: IContainer['securityContext'] = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: IMAGE_BUILD_UID,
    runAsGroup: IMAGE_BUILD_UID,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  const fetch: IContainer = {
    name: 'fetch',
    image: NODE_BASE_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `${SCRIPT_DIR}/${SCRIPT_FILE}`],
    env: [
      { name: 'GITEA_URL', value: giteaInternalUrl(c) },
      { name: 'GITOPS_REPO', value: `${c.flux.organization}/${c.flux.repository}` },
      { name: 'GITOPS_BRANCH', value: c.flux.branch },
      { name: 'GITEA_USER', valueFrom: { secretKeyRef: secretKeyRef('image-builder', 'username') } },
      { name: 'GITEA_TOKEN', valueFrom: { secretKeyRef: secretKeyRef('image-builder', 'token') } },
      { name: 'REGISTRY_HOST', value: c.registryHost },
      { name: 'IMAGE_REPOSITORY', value: image.repository },
      { name: 'IMAGE_TAG', value: image.tag },
      { name: 'INPUTS_MANIFEST', value: `${INPUTS_DIR}/${MANIFEST_FILE}` },
      { name: 'BUILD_WORK_DIR', value: WORK },
      { name: 'DOCKER_CONFIG', value: AUTH },
      { name: 'HOME', value: '/tmp' },
    ],
    resources: { requests: { cpu: '20m', memory: '64Mi', 'ephemeral-storage': '512Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '512Mi' } },
    securityContext: restricted,
    volumeMounts: [
      { name: 'script', mountPath: SCRIPT_DIR, readOnly: true },
      { name: 'inputs', mountPath: INPUTS_DIR, readOnly: true },
      { name: 'work', mountPath: WORK },
      { name: 'auth', mountPath: AUTH },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  const build: IContainer = {
    name: 'build',
    // The daemon's image, as a client: buildctl matches the daemon's version.
    image: c.buildkit.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', BUILD_SCRIPT],
    env: [
      { name: 'BUILDKIT_HOST', value: buildkitAddress(c) },
      { name: 'IMAGE_REF', value: image.ref },
      { name: 'IMAGE_TAG', value: image.tag },
      { name: 'DOCKERFILE_DIR', value: imageFolder(image.name) },
      { name: 'REGISTRY_INSECURE', value: c.gitea.registry.tls ? '' : ',registry.insecure=true' },
      { name: 'DOCKER_CONFIG', value: AUTH },
      { name: 'HOME', value: '/tmp' },
      { name: 'TMPDIR', value: '/tmp' },
    ],
    resources: { requests: { cpu: '10m', memory: '32Mi', 'ephemeral-storage': '512Mi' }, limits: { memory: '128Mi', 'ephemeral-storage': '512Mi' } },
    securityContext: restricted,
    volumeMounts: [
      { name: 'work', mountPath: WORK, readOnly: true },
      { name: 'auth', mountPath: AUTH, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels },
    spec: {
      backoffLimit: BUILD_BACKOFF_LIMIT,
      activeDeadlineSeconds: durationSeconds(c.images.buildTimeout),
      // Inputs that differ from the tag's manifest will not change on a retry.
      podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'fetch', operator: 'In', values: [EXIT_INPUTS_MISMATCH] } }] },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: IMAGE_BUILD_NAME,
          automountServiceAccountToken: false,
          // The apps wait for these images: builds are platform work, kept before agents.
          priorityClassName: PLATFORM_PRIORITY_CLASS,
          enableServiceLinks: false,
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: IMAGE_BUILD_UID, runAsGroup: IMAGE_BUILD_UID, fsGroup: IMAGE_BUILD_UID, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: [fetch],
          containers: [build],
          volumes: [
            { name: 'script', configMap: { name: IMAGE_BUILD_NAME } },
            { name: 'inputs', configMap: { name: `${name}-inputs` } },
            { name: 'work', emptyDir: { sizeLimit: '256Mi' } },
            // The registry login lives in memory only, for the life of the pod.
            { name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };
}

/** The build Jobs of every image the workloads reference, with their ServiceAccount, script and NetworkPolicy. */
export class ImageBuilds extends ComponentChart {
  /** The images built here (those a workload references). */
  readonly images: readonly BuiltImage[];

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'images', bootstrap: false });
    const c = props.config;
    this.images = c.images.built;
    if (this.images.length === 0) return;
    // Built images without BuildKit (buildkit.enabled: false) are refused with the config (src/config/contradictions.ts).
    const namespace = c.namespaces.images;
    const labels = componentLabels(IMAGE_BUILD_APP, 'image-build');

    manifest<IServiceAccount>(this, 'service-account', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: IMAGE_BUILD_NAME, namespace, labels }, automountServiceAccountToken: false });
    manifest<IConfigMap>(this, 'script', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: IMAGE_BUILD_NAME, namespace, labels }, data: { [SCRIPT_FILE]: fetchScript() } });
    for (const image of this.images) {
      const name = buildJobName(image);
      // Named after the tag, whose hash it is: its content never changes under that name.
      manifest<IConfigMap>(this, `${image.name}-inputs`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `${name}-inputs`, namespace, labels: { ...labels, [IMAGE_LABEL]: image.name, [IMAGE_TAG_LABEL]: image.tag } },
        immutable: true,
        data: { [MANIFEST_FILE]: image.manifest },
      });
      manifest<IJob>(this, `${image.name}-job`, buildJob(c, image));
    }

    allowTraffic(this, 'network-policy', {
      config: c,
      name: IMAGE_BUILD_NAME,
      namespace,
      pods: selectorLabels(IMAGE_BUILD_APP),
      egress: [
        // The repository's files, the registry's tag lookup (Gitea serves both).
        { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('gitea') }], ports: [GITEA_HTTP_PORT] },
        // buildctl → the daemon, which builds and pushes.
        { peers: [{ namespace: c.namespaces.buildkit, pods: selectorLabels(BUILDKIT_POD_NAME) }], ports: [BUILDKIT_PORT] },
      ],
    });
  }
}
