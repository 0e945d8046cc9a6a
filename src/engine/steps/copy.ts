/**
 * COPY and ADD: the layer is written straight from the sources (the build
 * context, another stage or an image, URLs, git) into the store.
 *
 * Key: from another stage or an image, the source is named exactly by its
 * chain key or manifest digest, so the cache is asked before anything is
 * read. From the context, the key covers the selected files' names, modes,
 * owners, links and bytes (a Merkle digest, as BuildKit's content checksums),
 * known without reading them through the stat cache; when a file is not in
 * the stat cache the key is known only once the layer is written (its bytes
 * are hashed in the same pass), and the outcome names it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../../errors.js';
import { fsPath } from '../../fs-names.js';
import { createHash } from 'node:crypto';
import { planCopy, type CopyPlan, type CopySpec } from '../../copy/index.js';
import { splitChown } from '../../copy/chown.js';
import { entriesDigest, hashPath } from '../../copy/digest.js';
import { statKey } from '../../cache/stat-cache.js';
import { stepCacheKey } from '../../graph/cache-key.js';
import type { CopyStep } from '../../graph/types.js';
import { writeLayer } from '../../layers/index.js';
import type { LayerEntry } from '../../layers/types.js';
import type { Digest } from '../../oci/digest.js';
import { sha256 } from '../../oci/digest.js';
import type { Executor, ExplainInputs, StepContext } from '../step.js';
import { outcomeWith, writeLayerBlob } from './common.js';

interface Prepared {
  plan: CopyPlan;
  /** Stat keys of the context files read, taken before the key. */
  before: Map<string, string | undefined>;
}

const prepared = new WeakMap<StepContext<CopyStep>, Promise<Prepared>>();

function copySpec(step: CopyStep, workdir: string): CopySpec {
  return {
    instruction: step.kind === 'copy' ? 'COPY' : 'ADD',
    sources: step.sources,
    inline: step.inline.map((f) => ({ name: f.name, data: f.data })),
    dest: step.dest,
    workdir,
    ...(step.chown !== undefined ? { chown: splitChown(step.chown) } : {}),
    ...(step.chmod ? { chmod: step.chmod.kind === 'octal' ? step.chmod.mode.toString(8) : step.chmod.expression } : {}),
    ...(step.link ? { link: true } : {}),
    ...(step.parents ? { parents: true } : {}),
    ...(step.exclude.length > 0 ? { excludes: step.exclude } : {}),
    ...(step.checksum !== undefined ? { checksum: step.checksum } : {}),
    ...(step.keepGitDir ? { keepGitDir: true } : {}),
    ...(step.unpack !== undefined ? { unpack: step.unpack } : {}),
  };
}

/** Plans the copy once per step (the key and the execution share it); disposed when the step is done. */
function prepare(ctx: StepContext<CopyStep>): Promise<Prepared> {
  let p = prepared.get(ctx);
  if (!p) {
    p = (async () => {
      const source = await ctx.inputs.sourceFs(ctx.step.from);
      const dest = await ctx.rootfs.view();
      const tmpDir = await ctx.tempDir('copy');
      const plan = await planCopy(copySpec(ctx.step, ctx.config.config.WorkingDir || '/'), {
        source,
        ...(dest ? { dest } : {}),
        tmpDir,
        ...(ctx.settings.http ? { http: ctx.settings.http } : {}),
        signal: ctx.signal,
      });
      ctx.defer(() => plan.dispose());
      return { plan, before: new Map() };
    })();
    prepared.set(ctx, p);
  }
  return p;
}

function epoch(ctx: StepContext): number | null {
  return ctx.settings.sourceDateEpoch ?? null;
}

/**
 * A file's content digest for a key: small files in one read (about twice as fast over
 * thousands of them as a stream each), larger ones streamed.
 */
async function hashContextFile(file: string, size: number): Promise<Digest> {
  if (size > 1024 * 1024) return hashPath(file, size);
  let bytes: Buffer;
  try {
    bytes = await readFile(fsPath(file));
  } catch (e) {
    throw new OcibuildError('CONTEXT_NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (bytes.length !== size) throw new OcibuildError('LAYER_INVALID', `${file} changed while being read (${bytes.length} bytes, expected ${size})`);
  return sha256(bytes);
}

/** The key of a context copy, given each file's content digest. */
async function contextKey(
  ctx: StepContext<CopyStep>,
  entries: readonly LayerEntry[],
  digestOf: (file: string) => Digest | undefined,
): Promise<{ key: string; explain: ExplainInputs; hashed: Map<string, Digest> }> {
  const known = new Map<string, Digest>();
  const hashed = new Map<string, Digest>();
  const inputs = await entriesDigest(entries, {
    hashFile: async (file, size) => {
      let d = digestOf(file);
      if (d === undefined) {
        d = await hashContextFile(file, size);
        hashed.set(file, d);
      }
      known.set(file, d);
      return d;
    },
    signal: ctx.signal,
  });
  return { key: stepCacheKey(ctx.chain, ctx.step, { inputs, epoch: epoch(ctx) }), explain: { files: fileIdentities(ctx, entries, known) }, hashed };
}

/** The directory a copy from a context reads (the build context, or a named one), ending in a separator. */
function contextPrefix(ctx: StepContext<CopyStep>): string {
  const from = ctx.step.from;
  const dir = (from.kind === 'context' && from.name !== undefined ? ctx.settings.namedContexts?.get(from.name)?.dir : undefined) ?? ctx.settings.contextDir;
  return dir.endsWith(path.sep) ? dir : dir + path.sep;
}

/** Each entry's identity (bytes and metadata, not where it goes), by its name in the context (or in the layer). */
function fileIdentities(ctx: StepContext<CopyStep>, entries: readonly LayerEntry[], digests: Map<string, Digest>): Record<string, string> {
  const inContext = contextPrefix(ctx);
  const out: Record<string, string> = {};
  for (const e of entries) {
    const src = e.source;
    let content = '';
    if (e.type === 'file') content = src?.kind === 'path' ? (digests.get(src.path) ?? '') : src?.kind === 'buffer' ? sha256(src.data) : src ? '' : sha256(new Uint8Array(0));
    const name = src?.kind === 'path' && src.path.startsWith(inContext) ? src.path.slice(inContext.length).split(path.sep).join('/') : '/' + e.path;
    const row = JSON.stringify([e.type, e.mode, e.uid, e.gid, e.linkname ?? '', e.type === 'file' ? (e.size ?? 0) : 0, content]);
    out[name] = createHash('sha256').update(row).digest('hex').slice(0, 16);
  }
  return out;
}

/**
 * The flight of a COPY whose file digests are not known yet: the step and its
 * parent, and every entry with its source file's stat identity (what the stat
 * cache trusts). None when a source has no stat identity.
 */
function flightOf(ctx: StepContext<CopyStep>, entries: readonly LayerEntry[], stats: Map<string, string | undefined>): { flight?: string } {
  const rows: unknown[] = [];
  for (const e of entries) {
    const src = e.source;
    let identity: string | undefined = '';
    if (src?.kind === 'path') identity = stats.get(src.path) ?? statKey(src.path);
    else if (src?.kind === 'buffer') identity = sha256(src.data);
    else if (src) return {};
    if (identity === undefined) return {};
    rows.push([e.type, e.path, e.mode, e.uid, e.gid, e.linkname ?? '', e.type === 'file' ? (e.size ?? 0) : 0, src?.kind === 'path' ? src.path : '', identity]);
  }
  const step = stepCacheKey(ctx.chain, ctx.step, { epoch: epoch(ctx) });
  return { flight: createHash('sha256').update(JSON.stringify(['flight', step, rows])).digest('hex') };
}

export const copyExecutor: Executor<CopyStep> = {
  async key(ctx) {
    if (ctx.step.from.kind !== 'context') {
      const source = await ctx.inputs.sourceIdentity(ctx.step.from);
      if (source === undefined) return { cacheable: false, reason: 'the source has no identity' };
      return { cacheable: true, key: stepCacheKey(ctx.chain, ctx.step, { source, epoch: epoch(ctx) }), explain: { source } };
    }
    const { plan, before } = await prepare(ctx);
    if (plan.entries.some((e) => e.source?.kind === 'stream')) return { cacheable: false, reason: 'it downloads its sources' };
    const statCache = await ctx.inputs.statCache?.();
    if (!statCache) return { cacheable: true };
    let known = true;
    for (const e of plan.entries) {
      if (e.type !== 'file' || e.source?.kind !== 'path') continue;
      const k = statKey(e.source.path);
      before.set(e.source.path, k);
      if (!statCache.get(e.source.path, k)) known = false;
    }
    if (!known && !ctx.settings.eagerKeys) return { cacheable: true, ...flightOf(ctx, plan.entries, before) };
    // With eagerKeys, files the stat cache does not know are hashed now (and remembered when unchanged meanwhile).
    const { key, explain, hashed } = await contextKey(ctx, plan.entries, (file) => statCache.get(file, before.get(file)));
    const inContext = ctx.settings.contextDir.endsWith(path.sep) ? ctx.settings.contextDir : ctx.settings.contextDir + path.sep;
    for (const [file, digest] of hashed) {
      const k = before.get(file);
      if (k !== undefined && file.startsWith(inContext) && statKey(file) === k) statCache.set(file, k, digest);
    }
    return { cacheable: true, key, explain };
  },

  async execute(ctx) {
    const { plan, before } = await prepare(ctx);
    const fromContext = ctx.step.from.kind === 'context';
    const statCache = fromContext ? await ctx.inputs.statCache?.() : undefined;
    const cacheable = statCache !== undefined && !plan.entries.some((e) => e.source?.kind === 'stream');
    let fileDigests: Map<string, Digest> | undefined;
    const sde = ctx.settings.sourceDateEpoch;
    const layer = await writeLayerBlob(ctx, async (out) => {
      const r = await writeLayer(plan.entries, out, {
        compression: 'gzip',
        ...(cacheable ? { fileDigests: true } : {}),
        ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
        signal: ctx.signal,
      });
      fileDigests = r.fileDigests;
      return r;
    });
    const outcome = { ...outcomeWith(ctx, layer), warnings: plan.warnings };
    if (!cacheable || !fileDigests) return outcome;
    // Remember a context file's digest only if it did not change while it was read
    // (downloads and checkouts live in temp dirs: never worth remembering).
    const inContext = contextPrefix(ctx);
    for (const e of plan.entries) {
      if (e.type === 'file' && e.source?.kind === 'path' && !before.has(e.source.path)) before.set(e.source.path, undefined);
    }
    for (const [file, digest] of fileDigests) {
      const k = before.get(file);
      if (k !== undefined && file.startsWith(inContext) && statKey(file) === k) statCache!.set(file, k, digest);
    }
    const digests = fileDigests;
    const { key, explain } = await contextKey(ctx, plan.entries, (file) => digests.get(file));
    return { ...outcome, key, explain };
  },

  reuse(ctx, layer) {
    return outcomeWith(ctx, layer);
  },
};
