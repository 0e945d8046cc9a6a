/**
 * The one walk over what a tag points at: an index, its manifests (two levels
 * deep at most, as nested indexes go), each manifest's config and layers.
 * `images` (sizes, platforms), `prune` (what is reachable) and `tag`
 * (completeness) all read a tree through it; they differ only in what they
 * do at each node and in whether a missing or malformed node is an error.
 */
import { OcibuildError, isOcibuildError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { parseConfig, parseIndex, parseManifest, sniffMediaType } from '../oci/documents.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { BlobInfo, Descriptor, ImageConfig, ImageManifest } from '../oci/types.js';

/** What the walk reads blobs from (the store). */
export interface WalkSource {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  readBlob(digest: Digest): Promise<Buffer>;
}

/** What to do at each node. Every blob is visited once. */
export interface WalkVisitor {
  /** Any blob reached (index, manifest, config, layer), with what the store has of it (undefined: absent). */
  blob?(d: Descriptor, info: BlobInfo | undefined): Promise<void> | void;
  /** An image manifest, parsed. */
  manifest?(d: Descriptor, m: ImageManifest): Promise<void> | void;
  /** An image config (not an artifact's config), parsed; `manifest` is the descriptor it came through. */
  config?(config: ImageConfig, manifest: Descriptor, parent: Descriptor | undefined): Promise<void> | void;
}

/** Options of {@link walkImage}. */
export interface WalkOptions {
  /**
   * Strict (tagging): the root must be readable, every config and layer of a
   * manifest present with its size (a layer with `urls` may be absent), the
   * index children that are present complete. Lenient (images, prune): what
   * is missing or malformed is skipped.
   */
  strict?: boolean;
}

/** Walks the tree under `root`. */
export async function walkImage(source: WalkSource, root: Descriptor, visitor: WalkVisitor, options: WalkOptions = {}): Promise<void> {
  const seen = new Set<string>();
  const strict = options.strict === true;
  const visit = async (d: Descriptor, depth: number, parent: Descriptor | undefined): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    const info = await source.stat(d.digest);
    await visitor.blob?.(d, info);
    if (!info) {
      if (strict && depth === 0) throw new OcibuildError('BLOB_NOT_FOUND', `blob ${d.digest} is not in the store`);
      return;
    }
    const isDoc = isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType) || (strict && depth === 0 && !d.mediaType);
    if (!isDoc) return;
    let bytes: Buffer;
    try {
      bytes = await source.readBlob(d.digest);
    } catch (e) {
      if (strict) throw e;
      return;
    }
    if (strict && bytes.length !== d.size) {
      throw new OcibuildError('SIZE_MISMATCH', `${d.digest}: descriptor says ${d.size} bytes, the blob has ${bytes.length}`);
    }
    try {
      const mt = d.mediaType || sniffMediaType(bytes);
      if (isIndexMediaType(mt ?? '')) {
        if (depth >= 2) return;
        const idx = parseIndex(bytes, d.mediaType, `index ${d.digest}`);
        for (const m of idx.manifests) {
          // a partial pull may leave an index's other platforms absent: fine even when strict
          if (strict && !(isManifestMediaType(m.mediaType) || isIndexMediaType(m.mediaType))) continue;
          if (strict && !(await source.stat(m.digest))) continue;
          await visit(m, depth + 1, d);
        }
        return;
      }
      const m = parseManifest(bytes, d.mediaType, `manifest ${d.digest}`);
      await visitor.manifest?.(d, m);
      for (const l of [m.config, ...m.layers]) {
        if (seen.has(l.digest)) continue;
        seen.add(l.digest);
        const st = await source.stat(l.digest);
        if (strict) {
          if (!st) {
            if (l.urls && l.urls.length > 0) continue; // non-distributable layer fetched from its URLs
            throw new OcibuildError('BLOB_NOT_FOUND', `blob ${l.digest} (${l.mediaType}) of ${d.digest} is not in the store`);
          }
          if (st.size !== l.size) throw new OcibuildError('SIZE_MISMATCH', `blob ${l.digest}: manifest says ${l.size} bytes, the store has ${st.size}`);
        }
        await visitor.blob?.(l, st);
      }
      if (!visitor.config || m.config.mediaType === MediaType.ociEmpty || !(await source.stat(m.config.digest))) return;
      let config: ImageConfig;
      try {
        config = parseConfig(await source.readBlob(m.config.digest));
      } catch (e) {
        if (isOcibuildError(e) && e.code === 'STORE_CORRUPT' && strict) throw e;
        return; // not an image config (an artifact)
      }
      await visitor.config(config, d, parent);
    } catch (e) {
      if (strict) throw e;
      // malformed document: keep what it is, nothing below it is known
    }
  };
  await visit(root, 0, undefined);
}
