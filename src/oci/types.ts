import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';

/** OCI platform (image-index `platform` object). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The `config` object of an image configuration (OCI names, plus Docker's extensions). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  /** Docker extensions, kept for `docker load` and `docker inspect` users. */
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** OCI image configuration. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

/**
 * Anything blobs can be read from: the local store, an OCI layout, a registry.
 * `open` verifies digest (and size when known) while streaming.
 */
export interface BlobSource {
  open(digest: Digest, size?: number): Promise<Readable>;
  has(digest: Digest): Promise<boolean>;
}

/** What a written blob turned out to be. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * A blob read while it is being written (a layer leaving for a registry before
 * its digest is known): the bytes already in the file, told of each write as
 * it lands. Nothing is buffered for the reader: it reads the file at its own
 * pace, so it never holds the writer back.
 */
export interface GrowingBlob {
  /** Bytes written so far. */
  readonly written: number;
  /**
   * Resolves true once `bytes` bytes are written, false when the writing ended
   * (all bytes written, or failed) before that.
   */
  reached(bytes: number): Promise<boolean>;
  /**
   * The blob from its first byte, in chunks read from the file as they are
   * written; it ends once every byte is written, and fails when the writing
   * failed. Each chunk is valid until the next one is asked for (one reused
   * buffer); each call starts again at byte 0. `close()` ends a reading early.
   */
  chunks(): AsyncIterable<Buffer> & { close(): Promise<void> };
  /** The blob as the writer committed it (digest verified, stored); rejects when it was not committed. */
  readonly committed: Promise<BlobInfo>;
  /** Release the file (idempotent); a reading in progress then fails. */
  close(): Promise<void>;
}

/**
 * Anything blobs can be written to (the local store). `ingest` streams into a
 * temp file, verifies `expected` when given, then publishes atomically.
 */
export interface BlobSink {
  has(digest: Digest): Promise<boolean>;
  ingest(source: Readable, expected?: BlobInfo): Promise<BlobInfo>;
  writeBlob(data: string | Uint8Array): Promise<BlobInfo>;
}
