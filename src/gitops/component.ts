/**
 * The unit of the Flux repository: one component chart becomes one folder of generated YAML.
 *
 *   infrastructure/controllers/<component>/   operators, CRDs, namespaces, storage classes
 *   infrastructure/configs/<component>/       stateful platform (Gitea, PostgreSQL, Redis, DNS)
 *   infrastructure/images/<component>/        BuildKit and the Jobs that build raibid-ci's own images
 *   apps/<component>/                         agent pools, the API
 */
import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { RaibidConfig } from '../config/resolve.js';

/** The four Flux Kustomizations, applied in this order. */
export const LAYERS = ['controllers', 'configs', 'images', 'apps'] as const;
export type Layer = (typeof LAYERS)[number];

/** Folder of each layer in the repository. */
export const LAYER_PATHS: Readonly<Record<Layer, string>> = {
  controllers: 'infrastructure/controllers',
  configs: 'infrastructure/configs',
  images: 'infrastructure/images',
  apps: 'apps',
};

export interface ComponentChartProps {
  /** The effective configuration. */
  readonly config: RaibidConfig;
  /** Flux layer the component belongs to. */
  readonly layer: Layer;
  /**
   * Whether bootstrap applies this component before Flux runs (it is also in the Flux tree, and Flux
   * adopts it). Bootstrap components go into dist/bootstrap.k8s.yaml.
   * @default false
   */
  readonly bootstrap?: boolean;
}

const COMPONENT = Symbol.for('raibid-ci.ComponentChart');

/** A chart that is one folder of the Flux repository; its construct ID is the folder name. */
export class ComponentChart extends Chart {
  /** cdk8s's Chart overrides `instanceof` to match any chart, so charts are told apart by a brand. */
  static isComponentChart(x: unknown): x is ComponentChart {
    return typeof x === 'object' && x !== null && (x as { [COMPONENT]?: boolean })[COMPONENT] === true;
  }

  protected readonly [COMPONENT] = true;

  readonly config: RaibidConfig;
  readonly layer: Layer;
  readonly bootstrap: boolean;

  constructor(scope: Construct, id: string, props: ComponentChartProps) {
    super(scope, id, { disableResourceNameHashes: true });
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id)) throw new Error(`component id ${JSON.stringify(id)} must be a DNS label: it becomes a folder name`);
    this.config = props.config;
    this.layer = props.layer;
    this.bootstrap = props.bootstrap ?? false;
  }

  /** Folder of this component in the repository, e.g. `infrastructure/configs/redis`. */
  get folder(): string {
    return `${LAYER_PATHS[this.layer]}/${this.node.id}`;
  }
}

/** Anything with a literal apiVersion and kind: the interfaces of kubernetes-models and its Flux/KEDA packages. */
export interface TypedManifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
}

/**
 * Adds a raw object whose shape is checked at compile time against its kubernetes-models interface,
 * e.g. `manifest<IHelmRelease>(this, 'Resource', { apiVersion: 'helm.toolkit.fluxcd.io/v2', … })`.
 * Use for kinds cdk8s-plus has no L2 for (Flux, KEDA, StorageClass).
 */
export function manifest<T extends TypedManifest>(scope: Construct, id: string, object: T): ApiObject {
  return new ApiObject(scope, id, object as unknown as ConstructorParameters<typeof ApiObject>[2]);
}
