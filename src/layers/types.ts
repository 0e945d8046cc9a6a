import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';

export type LayerEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'whiteout'
  | 'opaque'
  | 'fifo'
  | 'char'
  | 'block';

/** Where a file entry's bytes come from. */
export type LayerEntrySource =
  | {
      kind: 'path';
      path: string;
      /**
       * The file's stat identity when it was planned (`dev:ino:size:mtimeNs:ctimeNs`), if known:
       * lets a step cache tell an unchanged file without another stat. The writer ignores it.
       */
      identity?: string;
    }
  | { kind: 'buffer'; data: Uint8Array }
  | { kind: 'stream'; open: () => Promise<Readable> };

/**
 * One entry of a layer, as the writer takes it. Owner, group and mode are
 * plain header fields: nothing is ever chowned on disk.
 */
export interface LayerEntry {
  /** Path inside the image: relative, '/'-separated, no leading './' or '/', no trailing '/'. */
  path: string;
  type: LayerEntryType;
  /** Permission bits including setuid/setgid/sticky (0o7777 mask). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; clamped to sourceDateEpoch when that is set. */
  mtime?: number;
  /** Byte length of a file entry (required for 'file'). */
  size?: number;
  /** Symlink target, or for 'hardlink' the layer path of the entry it links to. */
  linkname?: string;
  /** Extended attributes (written as PAX `SCHILY.xattr.<name>`). */
  xattrs?: Record<string, Uint8Array>;
  devmajor?: number;
  devminor?: number;
  source?: LayerEntrySource;
}

/**
 * Entries by index, each made when asked for (an array is one): a planned COPY keeps its
 * entries compact and makes an entry object only for the moment it is used (issue 8: memory).
 */
export interface LayerEntryList {
  readonly length: number;
  at(index: number): LayerEntry | undefined;
  /** `at(index).source.path` of an entry read from a file, without making the entry (optional: a shortcut). */
  sourcePath?(index: number): string | undefined;
}

export type LayerCompression = 'gzip' | 'none';

export interface WriteLayerOptions {
  compression?: LayerCompression;
  /**
   * Also hash the bytes of each file read from disk as they are written
   * (SHA-256, in the same pass) and return them in `LayerResult.fileDigests`,
   * keyed by the source file's path (for the step cache's input digests).
   */
  fileDigests?: boolean;
  /** gzip level, default GZIP_DEFAULT_LEVEL (src/oci/compression.ts). */
  level?: number;
  /** SOURCE_DATE_EPOCH in seconds: every mtime is clamped to it. */
  sourceDateEpoch?: number;
  /** Abort the write. */
  signal?: AbortSignal;
  /**
   * gzip blocks queued at once for the libuv threadpool (default: twice its threads, see defaultGzipInFlight).
   * Does not change the output bytes, only speed and memory (128 KiB per block).
   */
  concurrency?: number;
}

/** What writing a layer yields, computed in the same pass. */
export interface LayerResult {
  /** SHA-256 of the uncompressed tar. */
  diffId: Digest;
  /** SHA-256 of the bytes written to `out` (compressed). */
  digest: Digest;
  /** Byte length of what was written to `out`. */
  size: number;
  /** Byte length of the uncompressed tar. */
  uncompressedSize: number;
  mediaType: string;
  /** With `fileDigests`: SHA-256 of each file read from disk, by source path. */
  fileDigests?: FileDigests;
  /**
   * With `fileDigests`, whether each file from disk was still the file it was
   * planned as (`source.identity`) when its bytes were read: the identity of
   * a file read whole in one piece is taken from the open file after the
   * read (the file those bytes came from, even if the path was replaced
   * since). `changed`: read whole and found with another identity (or planned
   * without one). `unchecked`: read in several ranges, or empty (not read):
   * the caller must stat them. Every other file read from disk was checked
   * and unchanged. Sets, not a map per file: on 100,000 files a map of
   * identities was ~15 MB of the peak (issue 8: memory).
   */
  readCheck?: { changed: Set<string>; unchecked: Set<string> };
}

/**
 * The SHA-256 of each file a layer write read from disk, by source path
 * (`WriteLayerOptions.fileDigests`). Each digest is kept as 32 bytes of one
 * buffer, not a string: on 100,000 files a map of digest strings was ~9 MB
 * more at the build's peak (issue 8: memory).
 */
export interface FileDigests {
  /** By source path (a file read for two entries: the digest of its last read). */
  get(path: string): Digest | undefined;
  /** The digest of the file read for the entry at `index` of the entries written. */
  entry(index: number): Digest | undefined;
  has(path: string): boolean;
  /** Number of files. */
  readonly size: number;
}
