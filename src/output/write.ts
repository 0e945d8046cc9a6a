/**
 * Sends a finished image where the build's outputs say: store tags, an OCI
 * layout, a docker-archive, a directory, a registry.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../cache/store.js';
import { OcibuildError } from '../errors.js';
import { writeDockerArchive, writeOciLayout } from '../image/outputs.js';
import { writeLocal } from '../image/local.js';
import { applyLayer } from '../layers/index.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor, GrowingBlob } from '../oci/types.js';
import type { PlatformImage } from '../image/state.js';
import { inVertex, type ProgressSink } from '../engine/progress.js';
import type { OutputCompression, OutputSpec } from './spec.js';
import { convertImage } from './convert.js';

/** Bytes of one blob of a push, as they leave. */
export interface PushBlobProgress {
  digest: Digest;
  current: number;
  total?: number;
  done: boolean;
}

/** Pushes a built image to a registry reference (the registry client provides it). */
export type PushFn = (
  store: Store,
  descriptor: Descriptor,
  ref: string,
  options: { signal?: AbortSignal; onProgress?: (event: PushBlobProgress) => void },
) => Promise<{ digest: Digest }>;

/**
 * Starts uploading the build's layers to registry reference `ref` while they
 * are written (the registry client provides it; see {@link LayerUploader}).
 */
export type LayerUploadFn = (ref: string, options: { signal?: AbortSignal; onProgress?: ProgressSink; now?: () => number }) => Promise<LayerUploader>;

/** The uploads of one build's layers, started before their digests are known. */
export interface LayerUploader {
  /** Follow a layer as it is written (the uploader closes `blob`). */
  follow(blob: GrowingBlob, vertex: string): void;
  /** The build succeeded: commit the uploads of `layers` (the push then finds them), drop the rest. Never fails. */
  finish(layers: readonly Descriptor[]): Promise<void>;
  /** The build failed: drop every upload, leaving nothing committed. */
  cancel(): Promise<void>;
}

/** What one output did. */
export interface OutputRecord {
  type: OutputSpec['type'];
  /** Destination path or registry reference. */
  dest: string;
  /** Names the image got there. */
  names: string[];
  /** Digest the destination holds (pushed manifest/index digest for registries). */
  digest: Digest;
  /** What the output left out, for the user (a local output's device nodes). */
  warnings: string[];
}

/** Options of {@link writeOutputs}. */
export interface WriteOutputsOptions {
  /** The build's `-t` names. */
  tags: string[];
  pushImage?: PushFn;
  /** The build's layer uploads: committed (`finish`) before the first push, once every output before it was written. */
  layerUploads?: LayerUploader;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /** The clock, for event times. */
  now?: () => number;
  /** Image creation time (RFC 3339), recorded with store tags. */
  created: string;
  /** mtime of tar entries of archive outputs (seconds). */
  mtime: number;
}

/** Writes `descriptor` (a manifest or an index) to every output, in order. */
export async function writeOutputs(
  store: Store,
  descriptor: Descriptor,
  images: readonly PlatformImage[],
  outputs: readonly OutputSpec[],
  options: WriteOutputsOptions,
): Promise<OutputRecord[]> {
  const records: OutputRecord[] = [];
  const now = options.now ?? Date.now;
  const emit = options.onProgress;
  let n = 0;
  const converted = new Map<string, Promise<Descriptor>>();
  /** The image in the output's compression (the built one when it names none); one conversion per setting. */
  const inCompression = (c: OutputCompression | undefined): Promise<Descriptor> => {
    if (!c) return Promise.resolve(descriptor);
    const key = JSON.stringify([c.compression, c.level ?? null, c.force]);
    let p = converted.get(key);
    if (!p) {
      const vertex = `output:${n++}`;
      p = inVertex(emit, now, { vertex, name: `exporting layers (${c.compression}${c.level !== undefined ? ` level ${c.level}` : ''}${c.force ? ', forced' : ''})`, kind: 'output' }, () =>
        convertImage(store, descriptor, images, c, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(emit ? { onProgress: (e) => emit({ type: 'status', time: now(), vertex, id: e.source, name: `layer ${e.source.slice(0, 19)}`, current: e.current, total: e.total, ...(e.done ? { completed: true } : {}) }) } : {}),
        }),
      );
      converted.set(key, p);
    }
    return p;
  };
  for (const out of outputs) {
    options.signal?.throwIfAborted();
    const names = 'names' in out && out.names.length > 0 ? out.names : options.tags;
    const image = await inCompression('compression' in out ? out.compression : undefined);
    if (out.type === 'registry') {
      // A push is its own vertex, one per name, with its uploads as statuses.
      await writeOne(out, names, image);
      continue;
    }
    await inVertex(emit, now, { vertex: `output:${n++}`, name: outputName(out, names), kind: 'output' }, () => writeOne(out, names, image));
  }
  return records;

  async function writeOne(out: OutputSpec, names: string[], descriptor: Descriptor): Promise<void> {
    switch (out.type) {
      case 'image': {
        for (const name of names) await store.tag(name, descriptor);
        if (out.push) records.push(...(await push(store, descriptor, names, options, images)));
        records.push({ type: 'image', dest: store.root, names, digest: descriptor.digest, warnings: [] });
        break;
      }
      case 'registry':
        records.push(...(await push(store, descriptor, names, options, images)));
        break;
      case 'oci': {
        const dest = path.resolve(out.dest);
        if (!out.tar) await mkdir(dest, { recursive: true });
        await writeOciLayout(store, { descriptor, tags: names }, dest, { tar: out.tar, mtime: options.mtime });
        records.push({ type: 'oci', dest, names, digest: descriptor.digest, warnings: [] });
        break;
      }
      case 'docker': {
        if (images.length !== 1) {
          throw new OcibuildError('OUTPUT_INVALID', `type=docker holds one platform, but this build made ${images.length}; use type=oci for a multi-platform image`);
        }
        const dest = path.resolve(out.dest);
        await writeDockerArchive(store, [{ descriptor: images[0]!.manifest, tags: names }], dest, { mtime: options.mtime });
        records.push({ type: 'docker', dest, names, digest: images[0]!.manifest.digest, warnings: [] });
        break;
      }
      case 'local': {
        const dest = path.resolve(out.dest);
        const targets = images.length === 1 ? [{ img: images[0]!, dir: dest }] : images.map((img) => ({ img, dir: path.join(dest, platformDir(img)) })); // as buildx: one directory per platform
        const skipped: string[] = [];
        for (const { img, dir } of targets) {
          const r = await writeLocal(store, img.manifest, dir, { applyLayer, devices: out.devices ?? false, ...(options.signal ? { signal: options.signal } : {}) });
          skipped.push(...r.skipped.filter((s) => /device/.test(s.reason)).map((s) => (dir === dest ? s.path : `${path.relative(dest, dir)}/${s.path}`)));
        }
        const warnings =
          skipped.length === 0
            ? []
            : [`-o type=local,dest=${out.dest}: ${skipped.length} device node${skipped.length === 1 ? '' : 's'} not written (add devices=true to write them): ${skipped.slice(0, 10).map((p) => `/${p}`).join(', ')}${skipped.length > 10 ? ', ...' : ''}`];
        records.push({ type: 'local', dest, names: [], digest: descriptor.digest, warnings });
        break;
      }
    }
  }
}

/** The output's vertex name, as BuildKit's exporters call themselves. */
function outputName(out: OutputSpec, names: readonly string[]): string {
  switch (out.type) {
    case 'image':
      return `exporting to image${names.length > 0 ? ` ${names.join(', ')}` : ''}${out.push ? ' (push)' : ''}`;
    case 'registry':
      return `pushing ${names.join(', ')}`;
    case 'oci':
      return `exporting to oci image format ${out.dest}`;
    case 'docker':
      return `exporting to docker image format ${out.dest}`;
    case 'local':
      return `copying files to ${out.dest}`;
  }
}

async function push(store: Store, descriptor: Descriptor, names: string[], options: WriteOutputsOptions, images: readonly PlatformImage[]): Promise<OutputRecord[]> {
  const pushImage = options.pushImage;
  if (!pushImage) throw new OcibuildError('USAGE', 'pushing needs a registry client');
  if (names.length === 0) throw new OcibuildError('USAGE', 'nothing to push to: give the image a name with -t (or name= in --output)');
  // The layers uploaded as they were written are committed now (the push finds them); once.
  await options.layerUploads?.finish(images.flatMap((i) => i.layers));
  const records: OutputRecord[] = [];
  const now = options.now ?? Date.now;
  const emit = options.onProgress;
  for (const name of names) {
    const vertex = `push:${name}`;
    const r = await inVertex(emit, now, { vertex, name: `pushing ${name}`, kind: 'push' }, () =>
      pushImage(store, descriptor, name, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(emit
          ? {
              onProgress: (e: PushBlobProgress) =>
                emit({ type: 'status', time: now(), vertex, id: e.digest, current: e.current, ...(e.total !== undefined ? { total: e.total } : {}), ...(e.done ? { completed: true } : {}) }),
            }
          : {}),
      }),
    );
    records.push({ type: 'registry', dest: name, names: [name], digest: r.digest, warnings: [] });
  }
  return records;
}

function platformDir(img: PlatformImage): string {
  return `${img.platform.os}_${img.platform.architecture}${img.platform.variant ? `_${img.platform.variant}` : ''}`;
}
