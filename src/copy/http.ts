/**
 * ADD <url>: download with undici, streamed to a temp file while hashing,
 * `--checksum` verified, the name taken from the URL path and the mtime from
 * `Last-Modified`, as BuildKit's HTTP source does for Dockerfile ADD.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { OcibuildError } from '../errors.js';
import { DigestStream, parseDigest, type Digest } from '../oci/digest.js';
import { processSecureContext } from '../tls-trust.js';
import type { HttpOptions } from './types.js';

/** True for `http://` and `https://` sources (BuildKit isHTTPSource). */
export function isHttpSource(src: string): boolean {
  return src.startsWith('http://') || src.startsWith('https://');
}

/**
 * The file name ADD gives a downloaded URL: the last segment of the URL path,
 * `__unnamed__` when there is none (dockerfile2llb passes this name to the
 * HTTP source, so Content-Disposition is not used).
 */
export function urlFileName(src: string): string {
  let p: string;
  try {
    p = new URL(src).pathname;
  } catch {
    return '__unnamed__';
  }
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  const base = segs.length ? segs[segs.length - 1]! : '';
  if (base === '' || base === '..') return '__unnamed__';
  try {
    return decodeURIComponent(base);
  } catch {
    return base;
  }
}

/** Redact credentials in a URL for messages. */
export function redactUrl(src: string): string {
  try {
    const u = new URL(src);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString();
  } catch {
    return src;
  }
}

/** A finished download. */
export interface Download {
  /** Temp file with the body (mode 0600). */
  file: string;
  size: number;
  digest: Digest;
  /** Seconds since the epoch from Last-Modified, when sent. */
  mtime?: number;
  /** Name the file takes in the image when the destination is a directory. */
  name: string;
  /** The response's ETag, when it sent one: a later build asks whether it still holds ({@link unchangedSince}). */
  etag?: string;
}

/** undici (loaded with the first download, not with every build that has a COPY: issue 8, ~0.1 s), its dispatcher with redirects, and the request headers for `url`. */
async function client(url: URL, http: HttpOptions | undefined) {
  const { Agent, interceptors, request } = await import('undici');
  // NODE_EXTRA_CA_CERTS when bin/ocibuild kept it from Node's start (src/tls-trust.ts).
  const secureContext = http?.dispatcher === undefined ? await processSecureContext() : undefined;
  const own = http?.dispatcher === undefined ? new Agent(secureContext ? { connect: { secureContext } } : {}) : undefined;
  const base: Dispatcher = http?.dispatcher ?? own!;
  const dispatcher = base.compose(interceptors.redirect({ maxRedirections: http?.maxRedirections ?? 10 }));
  const headers: Record<string, string> = { 'user-agent': 'ocibuild', ...(http?.headersByHost?.[url.hostname] ?? {}) };
  return { request, dispatcher, headers, own };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === '' ? undefined : one;
}

/**
 * Whether the bytes `src` served with `etag` are still what it serves: a HEAD with
 * `If-None-Match`, answered 304, or 200 with the same ETag (BuildKit's HTTP source asks the same
 * way first, as some servers answer a conditional GET badly). Any other answer, or a failure, is
 * false: the caller downloads.
 */
export async function unchangedSince(src: string, etag: string, options: { http?: HttpOptions; signal?: AbortSignal } = {}): Promise<boolean> {
  let url: URL;
  try {
    url = new URL(src);
  } catch {
    return false;
  }
  const { request, dispatcher, headers, own } = await client(url, options.http);
  try {
    const res = await request(url, { method: 'HEAD', headers: { ...headers, 'if-none-match': etag }, dispatcher, signal: options.signal });
    await res.body.dump().catch(() => undefined);
    if (res.statusCode === 304) return true;
    return res.statusCode >= 200 && res.statusCode < 300 && headerValue(res.headers.etag) === etag;
  } catch {
    options.signal?.throwIfAborted();
    return false;
  } finally {
    if (own) await own.close().catch(() => undefined);
  }
}

/**
 * Download `src` into `dir`. Status outside 2xx fails with ADD_DOWNLOAD (the
 * body is discarded); a `checksum` (`sha256:<hex>`) that does not match the
 * bytes fails with ADD_CHECKSUM, showing both digests.
 */
export async function download(src: string, dir: string, options: { http?: HttpOptions; checksum?: string; signal?: AbortSignal } = {}): Promise<Download> {
  const shown = redactUrl(src);
  let expected: Digest | undefined;
  if (options.checksum !== undefined) {
    if (!options.checksum.startsWith('sha256:')) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `invalid checksum ${JSON.stringify(options.checksum)} for ${shown}: only sha256:<hex> is supported for URLs`);
    }
    try {
      expected = parseDigest(options.checksum);
    } catch (e) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `invalid checksum ${JSON.stringify(options.checksum)} for ${shown}: expected sha256: and 64 hex digits`, { cause: e });
    }
  }
  let url: URL;
  try {
    url = new URL(src);
  } catch (e) {
    throw new OcibuildError('ADD_DOWNLOAD', `invalid URL ${JSON.stringify(shown)}`, { cause: e });
  }
  const { request, dispatcher, headers, own } = await client(url, options.http);
  const file = path.join(dir, `download-${process.hrtime.bigint().toString(36)}-${Math.random().toString(36).slice(2)}`);
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher, signal: options.signal });
    } catch (e) {
      throw new OcibuildError('ADD_DOWNLOAD', `cannot download ${shown}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump().catch(() => undefined);
      throw new OcibuildError('ADD_DOWNLOAD', `cannot download ${shown}: HTTP status ${res.statusCode}`, { details: { status: res.statusCode } });
    }
    const hash = new DigestStream('sha256');
    try {
      await pipeline(res.body, hash, fs.createWriteStream(file, { mode: 0o600 }), { signal: options.signal });
    } catch (e) {
      throw new OcibuildError('ADD_DOWNLOAD', `download of ${shown} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (expected !== undefined && hash.digest !== expected) {
      throw new OcibuildError('ADD_CHECKSUM', `checksum mismatch for ${shown}: expected ${expected}, got ${hash.digest}`, {
        details: { expected, actual: hash.digest },
      });
    }
    const lm = res.headers['last-modified'];
    const lmValue = Array.isArray(lm) ? lm[0] : lm;
    let mtime: number | undefined;
    if (lmValue) {
      const t = Date.parse(lmValue);
      if (!Number.isNaN(t)) mtime = Math.floor(t / 1000);
    }
    const etag = headerValue(res.headers.etag);
    return { file, size: hash.size, digest: hash.digest, mtime, name: urlFileName(src), ...(etag !== undefined ? { etag } : {}) };
  } catch (e) {
    await fs.promises.rm(file, { force: true });
    throw e;
  } finally {
    if (own) await own.close().catch(() => undefined);
  }
}
