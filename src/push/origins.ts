/**
 * Where else a registry may hold a blob: the repositories of that registry
 * that the local store has tagged images of (issue 8: a push no longer reads
 * every tagged image before its first upload).
 *
 * A blob the target repository lacks can be mounted from another repository
 * of the same registry (`POST ?mount=&from=`) instead of uploaded. Only tags
 * naming the target's registry, and another repository than the target, can
 * say where: the images of the other tags are never read. The scan starts
 * when the lookup is made, runs beside the push's first requests (its `HEAD`
 * of each blob), and is awaited only for a blob the registry lacks. Every
 * platform of a tagged index counts (the manifests the store has of it); an
 * image that cannot be read is skipped, as is a tag that does not parse: a
 * mount is an optimisation, its candidates never fail a push.
 */
import pLimit from 'p-limit';
import type { Digest } from '../oci/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { normalizeReference, referenceName, type ImageReference } from '../oci/reference.js';
import type { BlobSource, Descriptor } from '../oci/types.js';
import { parseManifestBytes } from '../registry/manifest.js';
import { readSmall } from './push.js';

/** A blob source that also lists its tagged images (a Store). */
export interface TaggedBlobSource extends BlobSource {
  listTags(): Promise<Array<{ name: string; descriptor: Descriptor }>>;
}

/** Repositories (`registry/path`) that may hold a blob; `undefined` when none is known. */
export type OriginLookup = (digest: Digest) => Promise<string[] | undefined>;

/** Index nesting followed, as the push follows it. */
const MAX_DEPTH = 4;

/** Adds to `out` every blob the manifest or index `d` names (what the source has of it). */
async function collect(source: BlobSource, d: Descriptor, out: Set<Digest>, depth: number): Promise<void> {
  let fetched;
  try {
    fetched = parseManifestBytes(await readSmall(source, d), d.mediaType, d.digest, `manifest ${d.digest}`);
  } catch {
    return; // not in the store (one platform of an index pulled), or unreadable: no origins from it
  }
  if (fetched.kind === 'manifest') {
    for (const b of [fetched.manifest.config, ...fetched.manifest.layers]) out.add(b.digest);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  for (const m of fetched.index.manifests) {
    if (isIndexMediaType(m.mediaType) || isManifestMediaType(m.mediaType)) await collect(source, m, out, depth + 1);
  }
}

/**
 * Starts reading the images `source` has tagged in `target`'s registry under
 * another repository than `target`'s, and returns the lookup of what they
 * name (each call waits for that reading to end).
 */
export function blobOrigins(source: TaggedBlobSource, target: ImageReference): OriginLookup {
  const scan = (async () => {
    const out = new Map<Digest, string[]>();
    const tagged: Array<{ repo: string; descriptor: Descriptor }> = [];
    for (const t of await source.listTags()) {
      let ref: ImageReference;
      try {
        ref = normalizeReference(t.name);
      } catch {
        continue;
      }
      if (ref.domain === target.domain && ref.path !== target.path) tagged.push({ repo: referenceName(ref), descriptor: t.descriptor });
    }
    // The images are read concurrently; their repositories are added in tag order.
    const limit = pLimit(8);
    const blobs = await Promise.all(
      tagged.map((t) =>
        limit(async () => {
          const s = new Set<Digest>();
          await collect(source, t.descriptor, s, 0);
          return s;
        }),
      ),
    );
    tagged.forEach(({ repo }, i) => {
      for (const digest of blobs[i]!) {
        const list = out.get(digest) ?? [];
        if (!list.includes(repo)) list.push(repo);
        out.set(digest, list);
      }
    });
    return out;
  })().catch(() => new Map<Digest, string[]>());
  return async (digest) => (await scan).get(digest);
}
