import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, pipeline as pipelineCb } from 'node:stream';
import { OcibuildError } from '../errors.js';
import { VerifyStream, digestAlgorithm, digestHex, isDigest, type Digest } from '../oci/digest.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import type { RangeBlobSource } from './push.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * Read-only access to an OCI image layout directory (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`) as a blob source with range reads.
 * Every full read is verified against its digest (and size when given).
 */
export class OciLayoutSource implements RangeBlobSource {
  constructor(readonly dir: string) {}

  private blobPath(digest: Digest): string {
    if (!isDigest(digest)) throw new OcibuildError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
    return path.join(this.dir, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  async open(digest: Digest, size?: number): Promise<Readable> {
    const file = this.blobPath(digest);
    try {
      await stat(file);
    } catch {
      throw new OcibuildError('BLOB_NOT_FOUND', `blob ${digest} is not in the OCI layout ${this.dir}`);
    }
    return pipelineCb(createReadStream(file), new VerifyStream(digest, size, `blob ${digest}`), () => undefined);
  }

  async openRange(digest: Digest, start: number, end: number): Promise<Readable> {
    if (!(start >= 0) || !(end >= start)) throw new OcibuildError('USAGE', `invalid range ${start}-${end}`);
    if (end === start) return Readable.from([]);
    return createReadStream(this.blobPath(digest), { start, end: end - 1 });
  }

  /** The layout's index.json. */
  async index(): Promise<ImageIndex> {
    const file = path.join(this.dir, 'index.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new OcibuildError('IMAGE_NOT_FOUND', `${this.dir} is not an OCI layout (no index.json)`, { cause: e });
    }
    try {
      return JSON.parse(text) as ImageIndex;
    } catch {
      throw new OcibuildError('MANIFEST_INVALID', `${file} is not valid JSON`);
    }
  }

  /**
   * The descriptor for `refName` (the `org.opencontainers.image.ref.name`
   * annotation), or the only entry of index.json when no name is given.
   */
  async resolve(refName?: string): Promise<Descriptor> {
    const idx = await this.index();
    const entries = Array.isArray(idx.manifests) ? idx.manifests : [];
    if (refName !== undefined) {
      const hit = entries.find((d) => d.annotations?.[REF_NAME] === refName);
      if (!hit) throw new OcibuildError('IMAGE_NOT_FOUND', `no image named ${JSON.stringify(refName)} in OCI layout ${this.dir}`);
      return hit;
    }
    if (entries.length !== 1) {
      throw new OcibuildError('IMAGE_NOT_FOUND', `OCI layout ${this.dir} holds ${entries.length} images; name one (dir:ref)`);
    }
    return entries[0]!;
  }
}
