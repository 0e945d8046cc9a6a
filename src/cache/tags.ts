/**
 * The store's tags: index.json, an OCI image index whose entries carry
 * `org.opencontainers.image.ref.name` and `io.containerd.image.name`, changed
 * under the store lock; a tag never points at missing content.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OcibuildError, isOcibuildError } from '../errors.js';
import { compareFsNames } from '../fs-names.js';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { Descriptor, Platform } from '../oci/types.js';
import { parseIndex } from '../oci/documents.js';
import { parseImageName, formatImageName } from '../oci/names.js';
import type { Blobs } from './blobs.js';
import { fsyncDir, ioError } from './io.js';
import { withLock, type LockOptions } from './lock.js';
import { writeFileAtomic } from './temp.js';
import { walkImage } from './walk.js';

/** Annotation naming a tag in an OCI layout (`skopeo ... oci:<dir>:<ref.name>`). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's annotation with the full normalized image name. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

/** Extra data stored with a tag. */
export interface TagMeta {
  /** The full normalized name (`docker.io/library/app:latest`); computed from the tag when absent. */
  fullName?: string;
  /** More annotations for the index.json entry. */
  annotations?: Record<string, string>;
}

/** One tag in the store's index.json. */
export interface StoreTag {
  /** The name as it was tagged (`app`, `app:1.0`, `localhost:5000/x:y`). */
  name: string;
  /** Full normalized name (`docker.io/library/app:latest`). */
  fullName: string;
  descriptor: Descriptor;
}

/** A row of `ocibuild images`. */
export interface ImageSummary {
  name: string;
  fullName: string;
  /** Digest of the manifest or index the tag points at. */
  digest: Digest;
  mediaType: string;
  /** Bytes of manifest(s), index, configs and layers present in the store, each blob counted once. */
  size: number;
  /** `created` of the image config (the newest one for a multi-platform image). */
  created?: string;
  /** Platforms, `os/arch[/variant]`. */
  platforms: string[];
}

/** The document in index.json. */
export interface StoreIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The lock file serializing index.json updates and prune. */
export function indexLockPath(root: string): string {
  return path.join(root, 'locks', 'index.lock');
}

/** The tags of the store at `root`; `blobs` are checked (and touched) when tagging. */
export class Tags {
  constructor(
    readonly root: string,
    private readonly lockOptions: LockOptions,
    private readonly blobs: Blobs,
  ) {}

  /** The parsed index.json. */
  async readIndex(): Promise<StoreIndex> {
    const p = path.join(this.root, 'index.json');
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(p);
    } catch (e) {
      throw ioError(`cannot read ${p}`, e);
    }
    let idx: StoreIndex;
    try {
      idx = parseIndex(bytes, undefined, p) as StoreIndex;
    } catch (e) {
      throw new OcibuildError('STORE_CORRUPT', `${p} is not a valid OCI index`, { cause: e, hint: 'restore it or remove it to start with no tags' });
    }
    return idx;
  }

  private async writeIndex(idx: StoreIndex): Promise<void> {
    const p = path.join(this.root, 'index.json');
    await writeFileAtomic(this.root, p, Buffer.from(JSON.stringify(idx)), 'index');
    await fsyncDir(this.root);
  }

  /** Run a read-modify-write of index.json under the store lock. */
  private async updateIndex<T>(fn: (idx: StoreIndex) => Promise<T> | T): Promise<T> {
    return withLock(indexLockPath(this.root), async () => {
      const idx = await this.readIndex();
      const before = JSON.stringify(idx);
      const result = await fn(idx);
      if (JSON.stringify(idx) !== before) await this.writeIndex(idx);
      return result;
    }, this.lockOptions);
  }

  private static tagOf(d: Descriptor): StoreTag | undefined {
    const name = d.annotations?.[ANNOTATION_REF_NAME];
    if (!name) return undefined;
    let fullName = d.annotations?.[ANNOTATION_IMAGE_NAME];
    if (!fullName) {
      try {
        fullName = formatImageName(parseImageName(name));
      } catch {
        fullName = name;
      }
    }
    return { name, fullName, descriptor: d };
  }

  /**
   * Check that every blob a manifest or index names is present (children of an
   * index may be absent: partial pulls). Returns the platform of a manifest's config.
   */
  private async checkComplete(descriptor: Descriptor): Promise<Platform | undefined> {
    let platform: Platform | undefined;
    try {
      await walkImage(
        this.blobs,
        descriptor,
        {
          blob: async (d, info) => {
            if (info && d.digest !== descriptor.digest) await this.blobs.touch(d.digest);
          },
          config: (c, manifest) => {
            if (manifest.digest === descriptor.digest) platform = { architecture: c.architecture, os: c.os, ...(c.variant ? { variant: c.variant } : {}) };
          },
        },
        { strict: true },
      );
    } catch (e) {
      if (isOcibuildError(e) && e.code === 'BLOB_NOT_FOUND' && e.message.includes(' of ')) e.message = `cannot tag ${descriptor.digest}: ${e.message}`;
      throw e;
    }
    return platform;
  }

  /**
   * Point `name` at a manifest or index already in the store (replacing what
   * the same normalized name pointed at). Every blob it references must be
   * present: a tag never points at missing content. The index.json entry
   * carries `org.opencontainers.image.ref.name` = `name` as given and
   * `io.containerd.image.name` = the full normalized name.
   */
  async tag(name: string, descriptor: Descriptor, meta: TagMeta = {}): Promise<StoreTag> {
    const parsed = parseImageName(name);
    if (parsed.digest !== undefined) throw new OcibuildError('REFERENCE_INVALID', `cannot tag an image as ${JSON.stringify(name)}: a tag cannot contain a digest`);
    if (!isManifestMediaType(descriptor.mediaType) && !isIndexMediaType(descriptor.mediaType)) {
      throw new OcibuildError('MANIFEST_INVALID', `cannot tag ${descriptor.digest}: ${JSON.stringify(descriptor.mediaType)} is not an image manifest or index`);
    }
    parseDigest(descriptor.digest);
    const fullName = meta.fullName ?? formatImageName(parsed);
    const configPlatform = await this.checkComplete(descriptor);
    const entry: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
    entry.annotations = { ...(meta.annotations ?? {}), [ANNOTATION_IMAGE_NAME]: fullName, [ANNOTATION_REF_NAME]: name };
    const platform = descriptor.platform ?? configPlatform;
    if (platform) entry.platform = platform;
    await this.updateIndex((idx) => {
      idx.manifests = idx.manifests.filter((d) => Tags.tagOf(d)?.fullName !== fullName);
      idx.manifests.push(entry);
      // Byte order: the same on every machine (localeCompare follows the locale, and its first call loads ICU's collator: ~30 ms per tagging build).
      idx.manifests.sort((a, b) => compareFsNames(Tags.tagOf(a)?.fullName ?? '', Tags.tagOf(b)?.fullName ?? ''));
    });
    return { name, fullName, descriptor: entry };
  }

  /** All tags of the store. */
  async listTags(): Promise<StoreTag[]> {
    const idx = await this.readIndex();
    return idx.manifests.map((d) => Tags.tagOf(d)).filter((t): t is StoreTag => t !== undefined);
  }

  private async findTag(name: string): Promise<StoreTag | undefined> {
    const tags = await this.listTags();
    if (isDigest(name)) return tags.find((t) => t.descriptor.digest === name);
    const exact = tags.find((t) => t.name === name);
    if (exact) return exact;
    let full: string;
    try {
      full = formatImageName(parseImageName(name));
    } catch {
      return undefined;
    }
    return tags.find((t) => t.fullName === full);
  }

  /**
   * The descriptor a name points at (`app`, `app:latest` and
   * `docker.io/library/app:latest` are the same name), or the tagged image with
   * this digest when `name` is a digest; undefined when unknown.
   */
  async resolve(name: string): Promise<Descriptor | undefined> {
    return (await this.findTag(name))?.descriptor;
  }

  /** Remove a tag; returns what it pointed at, or undefined when there was no such tag. Blobs stay until prune. */
  async untag(name: string): Promise<Descriptor | undefined> {
    const found = await this.findTag(name);
    if (!found) return undefined;
    return this.updateIndex((idx) => {
      const i = idx.manifests.findIndex((d) => Tags.tagOf(d)?.fullName === found.fullName);
      if (i < 0) return undefined;
      const [removed] = idx.manifests.splice(i, 1);
      return removed;
    });
  }

  /** Tagged images with size, creation time and platforms, as `ocibuild images` lists them. */
  async listImages(): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const t of await this.listTags()) {
      let size = 0;
      const creates: string[] = [];
      const platforms: string[] = [];
      await walkImage(this.blobs, t.descriptor, {
        blob: (_d, info) => {
          size += info?.size ?? 0;
        },
        config: (config, manifest) => {
          if (typeof config.created === 'string') creates.push(config.created);
          if (!manifest.annotations?.['vnd.docker.reference.type']) platforms.push([config.os, config.architecture, config.variant].filter(Boolean).join('/'));
        },
      });
      creates.sort();
      out.push({
        name: t.name,
        fullName: t.fullName,
        digest: t.descriptor.digest,
        mediaType: t.descriptor.mediaType,
        size,
        created: creates.at(-1),
        platforms: [...new Set(platforms)],
      });
    }
    return out;
  }
}
