/**
 * Unpacked layers: each layer's tree, by diffId, in the store, made once and
 * never modified afterwards. RUN mounts them as overlay lower dirs (so a
 * layer's whiteouts are kept in overlay form inside its own tree); COPY
 * --from reads files from them through the union view.
 *
 * Contract shared by the engine (COPY --from) and src/run (lower dirs):
 * `ensureLayerUnpacked` returns the absolute path of the layer's tree; the
 * tree holds that one layer's entries (owners applied when root, modes,
 * links, special bits); a whiteout never names `.`, `..` or leaves the tree.
 */
import type { Store } from '../cache/store.js';
import { applyLayer } from '../layers/apply.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';

/** A layer of an image: its blob descriptor and its diffId. */
export type UnpackableLayer = Pick<Descriptor, 'digest' | 'size' | 'mediaType'> & { diffId: Digest };

/** The layer's unpacked tree in the store (made now if missing; its diffId verified while unpacking). */
export async function ensureLayerUnpacked(store: Store, layer: UnpackableLayer, options: { signal?: AbortSignal } = {}): Promise<string> {
  return store.ensureUnpacked(layer.diffId, async (dir) => {
    const stream = await store.open(layer.digest, layer.size);
    await applyLayer(stream, dir, { expectedDiffId: layer.diffId, ...(options.signal ? { signal: options.signal } : {}) });
  });
}
