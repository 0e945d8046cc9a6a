/**
 * The state of an image while it is built: its platform, container config,
 * author, layers and history, as one immutable value. A step's outcome is
 * appended with {@link appendStep}; {@link finishImage} makes the config
 * blob and the manifest. One `Layer` shape serves pulled base layers, built
 * layers and step-cache records.
 */
import { MediaType } from '../oci/media-types.js';
import type { Digest } from '../oci/digest.js';
import type { ContainerConfig, Descriptor, HistoryEntry, ImageConfig, ImageManifest, Platform } from '../oci/types.js';
import { createConfigBlob, createManifest } from './manifest.js';
import type { JsonBlob } from './json.js';

/** A layer of an image: its blob descriptor and its diffId (SHA-256 of the uncompressed tar). */
export type Layer = Descriptor & { diffId: Digest };

/** An image being built. */
export interface ImageState {
  readonly platform: Platform;
  readonly config: ContainerConfig;
  readonly author?: string;
  readonly layers: readonly Layer[];
  readonly history: readonly HistoryEntry[];
}

/** What one step adds to an image (go-containerregistry's mutate.Addendum). */
export interface StepAddendum {
  /** The layer the step made, if any. */
  layer?: Layer;
  /** The config after the step. */
  config: ContainerConfig;
  author?: string;
  /** The history entry (`empty_layer` is set here when there is no layer); none for ONBUILD. */
  history?: Omit<HistoryEntry, 'empty_layer'>;
}

/** An empty image (FROM scratch). */
export function emptyImage(platform: Platform, config: ContainerConfig): ImageState {
  return { platform: platformOf(platform), config, layers: [], history: [] };
}

/**
 * The state of an existing image (a base), from its config and its layers (in
 * order, one per diff_id), built for `platform` (which a base of another
 * platform, used with a warning, does not change).
 */
export function imageFromConfig(config: ImageConfig, layers: readonly Layer[], platform: Platform): ImageState {
  return {
    platform: platformOf(platform),
    config: config.config ?? {},
    ...(config.author !== undefined ? { author: config.author } : {}),
    layers: [...layers],
    history: [...(config.history ?? [])],
  };
}

/** The image with a step's outcome applied. */
export function appendStep(state: ImageState, step: StepAddendum): ImageState {
  const { author: _author, ...rest } = state;
  return {
    ...rest,
    config: step.config,
    ...(step.author !== undefined ? { author: step.author } : {}),
    layers: step.layer ? [...state.layers, step.layer] : state.layers,
    history: step.history ? [...state.history, { ...step.history, ...(step.layer ? {} : { empty_layer: true }) }] : state.history,
  };
}

function platformOf(p: Platform): Platform {
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) };
}

/** The image config document of a state. */
export function imageConfig(state: ImageState, created?: string): ImageConfig {
  return {
    ...(created ? { created } : {}),
    ...(state.author !== undefined ? { author: state.author } : {}),
    architecture: state.platform.architecture,
    os: state.platform.os,
    ...(state.platform.variant ? { variant: state.platform.variant } : {}),
    config: sortConfigMaps(state.config),
    rootfs: { type: 'layers', diff_ids: state.layers.map((l) => l.diffId) },
    history: [...state.history],
  };
}

/** Docker layer media types and their OCI names (an OCI manifest names its layers in OCI terms). */
const OCI_LAYER_TYPES: Record<string, string> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.ociLayer,
  [MediaType.dockerForeignLayerGzip]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** A finished image: the config and manifest documents, ready to store. */
export interface FinishedImage {
  config: JsonBlob<ImageConfig>;
  manifest: JsonBlob<ImageManifest>;
  platform: Platform;
}

/**
 * Finishes an image: the config (with `created`, extra labels, the diff_ids
 * and history) and an OCI manifest over its layers (Docker layer media types
 * renamed to their OCI equivalents), with `annotations`.
 */
export function finishImage(
  state: ImageState,
  options: { created?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): FinishedImage {
  const value = imageConfig(state, options.created);
  if (options.labels && Object.keys(options.labels).length > 0) {
    // Extra labels come after the image's own (sorted) ones, in the order given, as the first engine wrote them.
    value.config = { ...(value.config ?? {}), Labels: { ...(value.config?.Labels ?? {}), ...options.labels } };
  }
  const config = createConfigBlob(value);
  const layers = state.layers.map((l) => ({ ...l, mediaType: OCI_LAYER_TYPES[l.mediaType] ?? l.mediaType }));
  const manifest = createManifest(config.descriptor, layers, options.annotations, { platform: state.platform });
  return { config, manifest, platform: state.platform };
}

/** Go marshals maps with sorted keys: so do we, for configs equal to BuildKit's byte for byte. */
function sortConfigMaps(c: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...c };
  for (const key of ['ExposedPorts', 'Volumes', 'Labels'] as const) {
    const m = c[key] as Record<string, unknown> | undefined;
    if (m) (out as Record<string, unknown>)[key] = Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]]));
  }
  return out;
}

/**
 * A finished single-platform image, written to the store: what outputs take.
 * `Warning` and `Explain` are the engine's COPY warning and explain entry
 * types (src/engine/engine.ts names them: `PlatformImage`); the image module
 * knows neither, so they are parameters here.
 */
export interface PlatformImage<Warning = unknown, Explain = unknown> {
  platform: Platform;
  /** Manifest descriptor (with platform). */
  manifest: Descriptor;
  config: Descriptor;
  configValue: ImageConfig;
  layers: Layer[];
  /**
   * How many of `layers` (the first ones) are the final stage's base image's,
   * as pulled; the rest were built. An output's `compression=` converts the
   * built ones, and the base's only with `force-compression`.
   */
  baseLayerCount: number;
  /** Base images used, pinned by digest. */
  bases: string[];
  warnings: Warning[];
  /** Every step of every stage built, hit or miss, and why. */
  explain: Explain[];
}
