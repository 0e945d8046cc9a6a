/**
 * Layers uploaded while the build writes them (issue 8: the upload of a big
 * layer hides behind its compression instead of following the build).
 *
 * As go-containerregistry streams a layer whose digest is not known yet:
 * `POST` opens an upload session once the layer has grown past a threshold,
 * one `PATCH` streams it (chunked transfer, no `Content-Range`) from the
 * store's temp file as the writer announces each write, and only when the
 * build has succeeded does `PUT ?digest=` commit it; the push that follows
 * then finds the blob (`HEAD`) and sends config and manifest only.
 *
 * Nothing is buffered for the upload and the writer never waits for it: the
 * upload reads the file behind the writer at the network's pace. Every byte
 * sent is hashed on its way out, and the commit names a digest only when that
 * hash, the byte count, the registry's `Range` and the layer the store
 * committed all agree (the registry verifies it again). A session is dropped
 * (`DELETE`) when the build fails or is interrupted, when the layer is not in
 * the pushed image, when the registry already has the blob or another
 * session of this build commits it, and after any failure of its own; its
 * layer then goes with the normal push, and the registry's error is reported
 * as a log line of the upload's progress vertex, never as the build's error.
 */
import { createHash, type Hash } from 'node:crypto';
import { OcibuildError, isOcibuildError } from '../errors.js';
import type { ProgressEvent, ProgressSink } from '../engine/progress.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, Descriptor, GrowingBlob } from '../oci/types.js';
import { referenceName, type ImageReference } from '../oci/reference.js';
import { getHeader, type RegistryClient } from '../registry/client.js';
import type { ChunkBody } from '../registry/transport.js';
import { checkCommitted, headBlob, pushScopes, withDigestParam } from './push.js';

/**
 * Layers smaller than this (compressed) are left to the push: below it, the
 * session's extra requests cost about what the overlap saves.
 */
export const LAYER_UPLOAD_THRESHOLD = 8 * 1024 * 1024;

/** Options of {@link LayerUploads}. */
export interface LayerUploadOptions {
  /** The repository the image will be pushed to (its tag or digest is ignored). */
  reference: ImageReference;
  /** Open a session once a layer has this many bytes (default {@link LAYER_UPLOAD_THRESHOLD}). */
  threshold?: number;
  /** The build's signal: once aborted, no session is opened (the build's end cancels those open, see {@link LayerUploads.cancel}). */
  signal?: AbortSignal;
  /** Progress: a vertex per upload, its bytes, and why it was dropped. */
  onProgress?: ProgressSink;
  /** The clock of progress events. Default Date.now. */
  now?: () => number;
}

/** What became of one followed layer (for tests and the library). */
export interface LayerUploadRecord {
  /** The vertex of the step that wrote the layer. */
  step: string;
  /** `small`: below the threshold, left to the push; `committed`: in the registry; `dropped`: its session was cancelled. */
  outcome: 'small' | 'committed' | 'dropped';
  /** For `dropped`: why. */
  reason?: string;
  /** Bytes streamed to the registry. */
  sent: number;
  digest?: Digest;
}

interface Upload {
  blob: GrowingBlob;
  step: string;
  vertex: string;
  /** The session's URL once opened (the latest `Location`). */
  session?: URL;
  /** The PATCH's last body: the hash and count of what was sent. */
  sending?: { hash: Hash; bytes: number };
  /** What the registry holds once the stream ended: its byte count and our hash of them. */
  sent?: { digest: Digest; size: number };
  /** Why the stream stopped early (left to the push). */
  error?: unknown;
  /** Why the body ended before the layer's end (the writing failed, or the build stopped following it). */
  cut?: unknown;
  /** The registry had the layer's blob when the stream ended (asked then, off the build's critical path). */
  exists?: boolean;
  /** The stream (never rejects). */
  running: Promise<void>;
  /** When its progress vertex started (undefined: none, the layer stayed below the threshold). */
  startedAt?: number;
  record?: LayerUploadRecord;
}

/** How long a cancel waits for the streams it ended to be answered before it cuts them. */
const CANCEL_WAIT_MS = 5000;

/** A registry's error in words for the progress log (its status and codes are in the message). */
function why(e: unknown): string {
  if (isOcibuildError(e)) return `${e.message} [${e.code}]`;
  return (e as Error)?.message ?? String(e);
}

/**
 * The uploads of one build's layers to one repository: {@link follow} each
 * layer as it is written; after the build, {@link finish} commits those the
 * image names; when the build fails, {@link cancel} drops every session.
 */
export class LayerUploads {
  private readonly uploads: Upload[] = [];
  /** Ends the requests still running when a cancel has waited {@link CANCEL_WAIT_MS} for them. */
  private readonly stop = new AbortController();
  private readonly threshold: number;
  private readonly now: () => number;
  private readonly name: string;
  /** finish() or cancel() was called: nothing more is followed. */
  private closed = false;
  /** cancel() was called: no stream starts. */
  private cancelled = false;

  constructor(
    private readonly client: RegistryClient,
    private readonly options: LayerUploadOptions,
  ) {
    this.threshold = options.threshold ?? LAYER_UPLOAD_THRESHOLD;
    if (!(this.threshold >= 0)) throw new OcibuildError('USAGE', `layer upload threshold must be >= 0, got ${this.threshold}`);
    this.now = options.now ?? Date.now;
    this.name = referenceName(options.reference);
  }

  /** Follow a layer being written (this object closes `blob`). */
  follow(blob: GrowingBlob, step: string): void {
    if (this.closed || this.options.signal?.aborted) {
      void blob.close();
      return;
    }
    const u: Upload = { blob, step, vertex: `upload:${step}`, running: Promise.resolve() };
    u.running = this.run(u);
    this.uploads.push(u);
  }

  /** What became of each followed layer, in the order they were followed (after finish or cancel). */
  records(): LayerUploadRecord[] {
    return this.uploads.map((u) => u.record ?? { step: u.step, outcome: 'small', sent: 0 });
  }

  private emit(e: ProgressEvent): void {
    this.options.onProgress?.(e);
  }

  private log(u: Upload, line: string): void {
    if (u.startedAt === undefined) return;
    this.emit({ type: 'log', time: this.now(), vertex: u.vertex, stream: 'stderr', data: `${line}\n` });
  }

  private async run(u: Upload): Promise<void> {
    try {
      if (!(await u.blob.reached(this.threshold))) return;
      if (this.cancelled || this.options.signal?.aborted) return;
      u.startedAt = this.now();
      this.emit({ type: 'vertex.started', time: u.startedAt, vertex: u.vertex, name: `uploading the layer to ${this.name} as it is written`, kind: 'push' });
      u.session = await this.open();
      if (this.cancelled) return;
      await this.stream(u);
      // Whether the registry has the layer already is asked now, while the build goes on.
      const layer = await u.blob.committed.catch(() => undefined);
      if (layer && layer.digest === u.sent?.digest && !this.cancelled) u.exists = await headBlob(this.client, this.options.reference, layer);
    } catch (e) {
      u.error = e;
    }
  }

  /**
   * `POST` a session. Not cancelled by the signal: a session the registry
   * opened but whose `Location` never arrived could not be dropped.
   */
  private async open(): Promise<URL> {
    const res = await this.client.request({
      registry: this.options.reference.domain,
      method: 'POST',
      path: `/v2/${this.options.reference.path}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      body: '',
      scopes: pushScopes(this.options.reference),
      what: `start an upload to ${this.name}`,
    });
    await res.body.dump();
    const location = getHeader(res, 'location');
    if (res.status !== 202 || !location) throw new OcibuildError('REGISTRY_ERROR', `start an upload to ${this.name}: unexpected HTTP ${res.status}${location ? '' : ' without a Location'}`);
    return new URL(location, res.url);
  }

  /** One `PATCH` with the layer as it is written; ends when its last byte is sent and the registry answered. */
  private async stream(u: Upload): Promise<void> {
    let last = 0;
    const body = (): ChunkBody => {
      const sending = { hash: createHash('sha256'), bytes: 0 };
      u.sending = sending;
      const chunks = u.blob.chunks();
      const emit = (done: boolean) => this.emit({ type: 'status', time: this.now(), vertex: u.vertex, id: 'layer', current: sending.bytes, ...(done ? { total: sending.bytes } : {}) });
      return {
        async *[Symbol.asyncIterator]() {
          try {
            for await (const c of chunks) {
              sending.hash.update(c);
              sending.bytes += c.length;
              const t = Date.now();
              if (t - last >= 100) {
                last = t;
                emit(false);
              }
              yield c;
            }
          } catch (e) {
            // The layer's writing failed, or the build stopped following it: the body ends here,
            // cleanly, so the registry answers with the session's state and the session can be
            // cancelled (distribution refuses to cancel a session whose last request was cut).
            u.cut = e;
          }
        },
        close: () => chunks.close(),
      };
    };
    const res = await this.client.request({
      registry: this.options.reference.domain,
      method: 'PATCH',
      path: u.session!.toString(),
      headers: { 'content-type': 'application/octet-stream' },
      body,
      scopes: pushScopes(this.options.reference),
      what: `upload a layer to ${this.name} as it is written`,
      retry: false,
      signal: this.stop.signal,
    });
    await res.body.dump();
    const location = getHeader(res, 'location');
    if (location) u.session = new URL(location, u.session);
    if (u.cut !== undefined) throw u.cut;
    const sending = u.sending!;
    if (res.status !== 202 && res.status !== 204) throw new OcibuildError('REGISTRY_ERROR', `upload a layer to ${this.name}: unexpected HTTP ${res.status}`);
    const range = getHeader(res, 'range');
    const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim()) : null;
    // The registry's count of what it holds must be ours (`0-0` for an empty upload, as distribution says it).
    if (range !== undefined && (!m || Number(m[1]) !== Math.max(sending.bytes - 1, 0))) {
      throw new OcibuildError('REGISTRY_ERROR', `upload a layer to ${this.name}: the registry holds ${range ?? 'an unknown range'} after ${sending.bytes} bytes sent`);
    }
    u.sent = { digest: `sha256:${sending.hash.digest('hex')}` as Digest, size: sending.bytes };
    this.emit({ type: 'status', time: this.now(), vertex: u.vertex, id: 'layer', current: sending.bytes, total: sending.bytes });
  }

  /**
   * The build succeeded and its image names `layers`: commit each streamed
   * layer among them (`PUT ?digest=`) unless the registry has it already;
   * drop every other session. Never fails the build: an upload that cannot be
   * committed is dropped and left to the push.
   */
  async finish(layers: readonly Descriptor[]): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const named = new Map<string, Descriptor>(layers.map((l) => [l.digest, l]));
    const done = new Set<string>();
    await Promise.all(this.uploads.map((u) => u.running));
    for (const u of this.uploads) {
      let layer: BlobInfo | undefined;
      try {
        layer = await u.blob.committed;
      } catch {
        layer = undefined;
      }
      await u.blob.close();
      if (!u.session) {
        if (u.error === undefined) u.record = { step: u.step, outcome: 'small', sent: 0 };
        else {
          const reason = `no upload session, the push sends the layer: ${why(u.error)}`;
          u.record = { step: u.step, outcome: 'dropped', reason, sent: 0 };
          this.end(u, reason);
        }
        continue;
      }
      const sent = u.sent;
      let reason: string | undefined;
      if (u.error !== undefined || !sent) reason = `the upload failed, the push sends the layer: ${why(u.error)}`;
      else if (!layer) reason = 'the layer was not stored';
      else if (sent.digest !== layer.digest || sent.size !== layer.size) reason = `the bytes sent (${sent.size}, ${sent.digest}) are not the layer stored (${layer.size}, ${layer.digest})`;
      else if (named.get(layer.digest)?.size !== layer.size) reason = 'the layer is not in the pushed image';
      else if (done.has(layer.digest)) reason = 'another upload of this build sent the same layer';
      if (reason === undefined) {
        try {
          if (u.exists ?? (await headBlob(this.client, this.options.reference, layer!))) reason = 'the registry has the layer already';
          else {
            await this.commit(u, layer!.digest);
            done.add(layer!.digest);
            u.record = { step: u.step, outcome: 'committed', sent: sent!.size, digest: layer!.digest };
            this.end(u, `committed ${layer!.digest}`);
            continue;
          }
        } catch (e) {
          reason = `the commit failed, the push sends the layer: ${why(e)}`;
        }
      }
      await this.drop(u, reason);
    }
  }

  /** The build failed or was interrupted: stop every stream and drop every session. */
  async cancel(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelled = true;
    // Closing the layers ends every wait on them, and every stream reading them ends its body
    // cleanly; a registry that does not answer within CANCEL_WAIT_MS has its request cut.
    await Promise.all(this.uploads.map((u) => u.blob.close()));
    const timer = setTimeout(() => this.stop.abort(), CANCEL_WAIT_MS);
    await Promise.all(this.uploads.map((u) => u.running));
    clearTimeout(timer);
    await Promise.all(
      this.uploads.map(async (u) => {
        if (u.session) await this.drop(u, 'the build did not finish');
        else {
          u.record = { step: u.step, outcome: 'small', sent: 0 };
          this.end(u, 'the build did not finish');
        }
      }),
    );
  }

  private async commit(u: Upload, digest: Digest): Promise<void> {
    const res = await this.client.request({
      registry: this.options.reference.domain,
      method: 'PUT',
      path: withDigestParam(u.session!, digest).toString(),
      headers: { 'content-length': '0' },
      body: '',
      scopes: pushScopes(this.options.reference),
      what: `commit blob ${digest} to ${this.name}`,
      retry: false,
    });
    await res.body.dump();
    checkCommitted(res.status, getHeader(res, 'docker-content-digest'), { digest });
  }

  /** `DELETE` the session (one try: a registry that keeps it purges it later) and say why. */
  private async drop(u: Upload, reason: string): Promise<void> {
    let note = reason;
    try {
      const res = await this.client.request({
        registry: this.options.reference.domain,
        method: 'DELETE',
        path: u.session!.toString(),
        scopes: pushScopes(this.options.reference),
        accept: [404],
        what: `cancel an upload to ${this.name}`,
        retry: false,
      });
      await res.body.dump();
    } catch (e) {
      note += `; cancelling the session failed: ${why(e)}`;
    }
    u.record = { step: u.step, outcome: 'dropped', reason: note, sent: u.sending?.bytes ?? 0 };
    this.end(u, `dropped: ${note}`);
  }

  private end(u: Upload, line: string): void {
    if (u.startedAt === undefined) return;
    this.log(u, line);
    const t = this.now();
    this.emit({ type: 'vertex.completed', time: t, vertex: u.vertex, cached: false, durationMs: t - u.startedAt });
  }
}
