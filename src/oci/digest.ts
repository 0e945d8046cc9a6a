import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OcibuildError } from '../errors.js';

declare const digestBrand: unique symbol;
/** A validated content digest, `sha256:<64 lower-case hex>` (or sha512). */
export type Digest = string & { readonly [digestBrand]: true };

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Validate a digest string; throws DIGEST_INVALID. */
export function parseDigest(value: string): Digest {
  if (!DIGEST_RE.test(value)) {
    throw new OcibuildError('DIGEST_INVALID', `invalid digest ${JSON.stringify(value)}`);
  }
  return value as Digest;
}

/** True when `value` is a syntactically valid digest. */
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** The hex part of a digest. */
export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** Byte length of a SHA-256 digest. */
const SHA256_BYTES = 32;

/**
 * SHA-256 digests by slot (0, 1, 2, ...), 32 bytes each in one buffer that
 * doubles as slots are added, instead of a 71-character string each (issue 8:
 * memory per context file: the layer writer's file digests, the stat cache's
 * records set during a build).
 */
export class Sha256Slots {
  private bytes: Buffer;

  constructor(expected = 64) {
    this.bytes = Buffer.allocUnsafe(Math.max(1, expected) * SHA256_BYTES);
  }

  /** Sets `slot` to `d`: a `sha256:` digest, or its 32 bytes (a Hash's `digest()`). */
  set(slot: number, d: Digest | Buffer): void {
    if ((slot + 1) * SHA256_BYTES > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max((slot + 1) * SHA256_BYTES, this.bytes.length * 2));
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    if (typeof d !== 'string') {
      if (d.length !== SHA256_BYTES) throw new Error(`assert: a SHA-256 digest is ${SHA256_BYTES} bytes, got ${d.length}`);
      d.copy(this.bytes, slot * SHA256_BYTES);
    } else {
      if (!d.startsWith('sha256:') || !isDigest(d)) throw new Error(`assert: not a SHA-256 digest: ${d}`);
      this.bytes.write(d.slice(7), slot * SHA256_BYTES, SHA256_BYTES, 'hex');
    }
  }

  /** The digest in `slot` (a slot never set holds no meaning). */
  get(slot: number): Digest {
    return `sha256:${this.hex(slot)}` as Digest;
  }

  /** The hex part of the digest in `slot`. */
  hex(slot: number): string {
    return this.bytes.toString('hex', slot * SHA256_BYTES, (slot + 1) * SHA256_BYTES);
  }
}

/** The algorithm part of a digest. */
export function digestAlgorithm(d: Digest): 'sha256' | 'sha512' {
  return d.slice(0, d.indexOf(':')) as 'sha256' | 'sha512';
}

/** SHA-256 of in-memory bytes (manifests, configs: small things only). */
export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/**
 * A pass-through stream that hashes and counts what flows through it.
 * Read `digest` and `size` after the stream has finished.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash;
  private bytes = 0;
  private result?: Digest;

  constructor(algorithm: 'sha256' | 'sha512' = 'sha256') {
    super();
    this.hash = createHash(algorithm);
    this.algorithm = algorithm;
  }

  private readonly algorithm: 'sha256' | 'sha512';

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
    cb();
  }

  /** The digest of everything that passed; throws if the stream has not finished. */
  get digest(): Digest {
    if (!this.result) throw new Error('DigestStream: digest read before the stream finished');
    return this.result;
  }

  get size(): number {
    return this.bytes;
  }
}

/**
 * A pass-through that verifies digest and size at the end of the stream and
 * fails the stream (DIGEST_MISMATCH / SIZE_MISMATCH) when they differ.
 */
export class VerifyStream extends Transform {
  private readonly hash: Hash;
  private bytes = 0;

  constructor(
    private readonly expected: Digest,
    private readonly expectedSize?: number,
    private readonly what = 'blob',
  ) {
    super();
    this.hash = createHash(digestAlgorithm(expected));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      cb(new OcibuildError('SIZE_MISMATCH', `${this.what} ${this.expected}: more than the expected ${this.expectedSize} bytes`));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      cb(new OcibuildError('SIZE_MISMATCH', `${this.what} ${this.expected}: got ${this.bytes} bytes, expected ${this.expectedSize}`));
      return;
    }
    const got = `${digestAlgorithm(this.expected)}:${this.hash.digest('hex')}`;
    if (got !== this.expected) {
      cb(new OcibuildError('DIGEST_MISMATCH', `${this.what}: expected ${this.expected}, got ${got}`));
      return;
    }
    cb();
  }
}
