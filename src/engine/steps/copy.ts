/**
 * COPY and ADD: the layer is written straight from the sources (the build
 * context, another stage or an image, URLs, git) into the store.
 *
 * Key: from another stage or an image, the source is named exactly by its
 * chain key or manifest digest, so the cache is asked before anything is
 * read. From the context, the key covers the selected files' names, modes,
 * owners, links and bytes (a Merkle digest, as BuildKit's content checksums),
 * known without reading them through the stat cache; the few files it does not
 * know (changed or touched since) are read to know the key before the step;
 * when many are unknown (a cold build) the key is known only once the layer is
 * written (its bytes are hashed in the same pass), and the outcome names it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OcibuildError } from '../../errors.js';
import { fsPath } from '../../fs-names.js';
import { createHash, hash } from 'node:crypto';
import { isHttpSource, parseGitRef, planCopy, resolveGitCommit, unchangedSince, type CopyPlan, type CopySpec, type Download, type GitRef, type PlannedEntries } from '../../copy/index.js';
import { splitChown } from '../../copy/chown.js';
import { entriesDigest, hashPath } from '../../copy/digest.js';
import { statKey } from '../../cache/stat-cache.js';
import { copyMemoSlot, readCopyMemo, writeCopyMemo } from '../../cache/copy-memo.js';
import { readUrlRecord, urlRecordSlot, writeUrlRecord } from '../../cache/url-records.js';
import { observedSourceFs, sameAnswers, type Observations } from '../../copy/observed.js';
import { stepCacheKey } from '../../graph/cache-key.js';
import type { CopyStep } from '../../graph/types.js';
import { writeLayer } from '../../layers/index.js';
import { hashFiles, type FileReadFailure } from '../../layers/hash-files.js';
import type { FileDigests, LayerEntry, LayerEntryList } from '../../layers/types.js';
import type { Digest } from '../../oci/digest.js';
import { sha256 } from '../../oci/digest.js';
import type { Executor, ExplainFileList, ExplainInputs, StepContext } from '../step.js';
import { ExplainFilesJson } from '../../cache/step-cache.js';
import { outcomeWith, writeLayerBlob } from './common.js';

interface Prepared {
  plan: CopyPlan;
  /** What the planner asked of the context and was answered (copy memo), when kept. */
  observations?: () => Observations | undefined;
  /** The key last written to the memo with them (key() and execute() of one miss both know it). */
  remembered?: string;
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
      const given = await ctx.inputs.sourceFs(ctx.step.from);
      const observed = memoSlot(ctx) !== undefined ? observedSourceFs(given) : undefined;
      const source = observed?.fs ?? given;
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
      return { plan, ...(observed ? { observations: observed.observations } : {}) };
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

/** {@link hashContextFile}'s errors for a read of {@link hashFiles}. */
function contextReadError(file: string, r: FileReadFailure): Error {
  if (r.kind === 'size') return new OcibuildError('LAYER_INVALID', `${file} changed while being read (${r.got}, expected its planned size)`);
  return new OcibuildError('CONTEXT_NOT_FOUND', `cannot read ${file}: ${r.code ?? r.message}`);
}

/** A file's content digest, when known: by its path, or the index of its entry in the plan. */
type DigestOf = (file: string, index: number) => Digest | undefined;

/** The stat identity of the file of entry `i` (planned, or taken now and kept with the plan). */
function identityOf(entries: PlannedEntries, i: number, src: { path: string; identity?: string }): string | undefined {
  if (src.identity !== undefined) return src.identity;
  const identity = statKey(src.path);
  entries.setIdentity(i, identity);
  return identity;
}

/** The key of a context copy, given each file's content digest. */
async function contextKey(ctx: StepContext<CopyStep>, plan: CopyPlan, digestOf: DigestOf): Promise<{ key: string; explain: ExplainInputs }> {
  const entries = plan.entries;
  const inputs = await entriesDigest(entries, {
    hashFile: async (file, size, i) => digestOf(file, i) ?? (await hashContextFile(file, size)),
    signal: ctx.signal,
  });
  // The per-file identities are for --explain's record: computed only when the record needs them
  // (a hit under the key of the last build reuses that build's).
  return { key: stepCacheKey(ctx.chain, ctx.step, { inputs, epoch: epoch(ctx) }), explain: { files: () => fileIdentities(ctx, plan, digestOf) } };
}

/** The directory a copy from a context reads (the build context, or a named one), ending in a separator. */
function contextPrefix(ctx: StepContext<CopyStep>): string {
  const from = ctx.step.from;
  const dir = (from.kind === 'context' && from.name !== undefined ? ctx.settings.namedContexts?.get(from.name)?.dir : undefined) ?? ctx.settings.contextDir;
  return dir.endsWith(path.sep) ? dir : dir + path.sep;
}

/** An entry's name in the explain record: in the context (or, when it comes from elsewhere, in the layer). */
function explainName(e: LayerEntry, inContext: string): string {
  const src = e.source;
  return src?.kind === 'path' && src.path.startsWith(inContext) ? src.path.slice(inContext.length).split(path.sep).join('/') : '/' + e.path;
}

/** An entry's identity in the explain record (bytes and metadata, not where it goes); `i`: its index in the plan. */
function explainIdentity(e: LayerEntry, i: number, digestOf: DigestOf): string {
  const src = e.source;
  let content = '';
  if (e.type === 'file') content = src?.kind === 'path' ? (digestOf(src.path, i) ?? '') : src?.kind === 'buffer' ? sha256(src.data) : src ? '' : sha256(new Uint8Array(0));
  const row = JSON.stringify([e.type, e.mode, e.uid, e.gid, e.linkname ?? '', e.type === 'file' ? (e.size ?? 0) : 0, content]);
  // One-shot hash: a Hash object per file cost ~0.1 s over 20,000 files (issue 8).
  return hash('sha256', row, 'hex').slice(0, 16);
}

/** A name JSON.stringify would put first (an array index: an object's integer keys come before the others). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/** Explain rows joined per this many, then the pieces once: no array of a string per file. */
const EXPLAIN_ROWS_PER_PIECE = 2048;

/**
 * Each entry's identity by its name (see {@link explainName}), as the JSON text of that object,
 * made row by row: the same bytes as `JSON.stringify` of the object, without an object of a
 * property per file (issue 8: ~17 MB on 100,000 files). A list where the object's own rules
 * reorder or merge rows (a name that is an array index, a context file copied twice) is made
 * as the object.
 */
function fileIdentities(ctx: StepContext<CopyStep>, plan: CopyPlan, digestOf: DigestOf): ExplainFileList {
  const { entries } = plan;
  const inContext = contextPrefix(ctx);
  const pieces: string[] = [];
  let rows: string[] = [];
  // Which context files were seen, when one may be the source of two entries (not for a plan of
  // one source item: a set of 100,000 names was ~5 MB at the build's peak).
  const sources = plan.sourcesOnce ? undefined : new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries.at(i)!;
    const name = explainName(e, inContext);
    if (ARRAY_INDEX.test(name) && Number(name) < 2 ** 32 - 1) return fileIdentityObject(entries, inContext, digestOf);
    if (sources && e.source?.kind === 'path' && !name.startsWith('/')) {
      if (sources.has(e.source.path)) return fileIdentityObject(entries, inContext, digestOf);
      sources.add(e.source.path);
    }
    const row = `${JSON.stringify(name)}:"${explainIdentity(e, i, digestOf)}"`;
    rows.push(pieces.length === 0 && rows.length === 0 ? `{${row}` : row);
    if (rows.length === EXPLAIN_ROWS_PER_PIECE) {
      pieces.push(rows.join(','));
      rows = [];
    }
  }
  if (pieces.length === 0 && rows.length === 0) return new ExplainFilesJson('{}');
  if (rows.length === 0) rows.push(pieces.pop()!);
  rows[rows.length - 1] += '}';
  pieces.push(rows.join(','));
  // (The braces go on the first and last rows: the text is made flat by one join, not copied again.)
  return new ExplainFilesJson(pieces.join(','));
}

/** {@link fileIdentities} as an object. */
function fileIdentityObject(entries: LayerEntryList, inContext: string, digestOf: DigestOf): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < entries.length; i++) {
    const e = entries.at(i)!;
    out[explainName(e, inContext)] = explainIdentity(e, i, digestOf);
  }
  return out;
}

/**
 * The flight of a COPY whose file digests are not known yet: the step and its
 * parent, and every entry with its source file's stat identity (what the stat
 * cache trusts). None when a source has no stat identity.
 */
function flightOf(ctx: StepContext<CopyStep>, entries: PlannedEntries): { flight?: string } {
  // Rows hashed as they come (a flight is an in-process name: its bytes are not kept anywhere).
  const h = createHash('sha256').update(JSON.stringify(['flight', stepCacheKey(ctx.chain, ctx.step, { epoch: epoch(ctx) })]));
  for (let i = 0; i < entries.length; i++) {
    const e = entries.at(i)!;
    const src = e.source;
    let identity: string | undefined = '';
    if (src?.kind === 'path') identity = identityOf(entries, i, src);
    else if (src?.kind === 'buffer') identity = sha256(src.data);
    else if (src) return {};
    if (identity === undefined) return {};
    h.update(JSON.stringify([e.type, e.path, e.mode, e.uid, e.gid, e.linkname ?? '', e.type === 'file' ? (e.size ?? 0) : 0, src?.kind === 'path' ? src.path : '', identity]));
    h.update('\n');
  }
  return { flight: h.digest('hex') };
}

/**
 * The copy memo's slot of a COPY from a build context (one per instruction,
 * Dockerfile, context and platform), or undefined when the step keeps none:
 * ADD (downloads, archives), --no-cache (no stat cache), a named context
 * that is not a directory.
 */
function memoSlot(ctx: StepContext<CopyStep>): string | undefined {
  if (ctx.step.kind !== 'copy' || ctx.step.from.kind !== 'context' || ctx.inputs.statCache === undefined) return undefined;
  return copyMemoSlot(['copy', contextPrefix(ctx), ctx.step.from.name ?? '', ctx.settings.file, String(ctx.stage.index), String(ctx.index), JSON.stringify(ctx.platform)]);
}

/** What a memo's answers are valid under: the step with its parent chain (which fixes the destination image), the workdir and the source. */
function memoKeyOf(ctx: StepContext<CopyStep>): string {
  const step = stepCacheKey(ctx.chain, ctx.step, { epoch: epoch(ctx) });
  return createHash('sha256').update(JSON.stringify(['copy-memo', step, ctx.config.config.WorkingDir || '/', contextPrefix(ctx), ctx.step.from.kind === 'context' ? (ctx.step.from.name ?? '') : ''])).digest('hex');
}

/** The key the memo kept, when the context answers every recorded question as before. */
async function keyFromMemo(ctx: StepContext<CopyStep>, slot: string): Promise<string | undefined> {
  const memo = await readCopyMemo(ctx.store, slot, memoKeyOf(ctx));
  if (!memo) return undefined;
  const source = await ctx.inputs.sourceFs(ctx.step.from);
  return (await sameAnswers(source, memo.observations, ctx.signal)) ? memo.key : undefined;
}

/** Keeps the planner's answers with `key`, when they could all be kept. */
async function rememberKey(ctx: StepContext<CopyStep>, prep: Prepared, key: string): Promise<void> {
  const slot = memoSlot(ctx);
  const observations = prep.observations?.();
  if (slot === undefined || observations === undefined || prep.remembered === key) return;
  prep.remembered = key;
  // A shortcut only: a store that cannot take it (read-only, full) builds as before.
  await writeCopyMemo(ctx.store, slot, { memoKey: memoKeyOf(ctx), key, observations }).catch(() => undefined);
}

/** The explain record's files of a step whose key came from the memo (a build without the last record): planned and digested. */
async function explainFilesByPlan(ctx: StepContext<CopyStep>): Promise<ExplainFileList> {
  const { plan } = await prepare(ctx);
  const statCache = await ctx.inputs.statCache?.();
  const { entries } = plan;
  // By entry (paths made for the moment are not kept as keys).
  const digests: (Digest | undefined)[] = new Array(entries.length);
  const unknown: { index: number; path: string; size: number }[] = [];
  for (let i = 0; i < entries.length; i++) {
    if (entries.type(i) !== 'file') continue;
    const src = entries.source(i);
    if (src?.kind !== 'path') continue;
    const identity = identityOf(entries, i, src);
    digests[i] = statCache?.get(src.path, identity);
    if (digests[i] === undefined) unknown.push({ index: i, path: src.path, size: entries.size(i) ?? 0 });
  }
  const hashed = await hashFiles(unknown, { signal: ctx.signal, fail: contextReadError });
  unknown.forEach((u, j) => (digests[u.index] = hashed[j]!.digest));
  return fileIdentities(ctx, plan, (_file, i) => digests[i]);
}

/** At most this many context files unknown to the stat cache are hashed to know a key before the step runs... */
const UNKNOWN_FILES_MAX = 1024;
/** ...and at most this many bytes of them, or a quarter of the step's bytes when that is more. */
const UNKNOWN_BYTES_MIN = 16 * 1024 * 1024;

/**
 * The one remote source of an `ADD` (a URL or a git ref, with no heredoc beside it): such a step
 * is keyed by what the source names, not by its files. A URL with `--checksum=sha256:...` names
 * its bytes in the step, so its key needs no download (BuildKit's HTTP source keys such a step by
 * the checksum, the file name and the step's options, not by Last-Modified, so a hit keeps the
 * layer whose file has the mtime of the download that made it); without one, by the bytes it got.
 */
type RemoteSource = { kind: 'git'; ref: GitRef } | { kind: 'url'; src: string; checksum?: string };

function remoteSource(step: CopyStep): RemoteSource | undefined {
  if (step.kind !== 'add' || step.sources.length !== 1 || step.inline.length > 0) return undefined;
  const src = step.sources[0]!;
  const ref = parseGitRef(src);
  if (ref !== undefined) return { kind: 'git', ref };
  if (!isHttpSource(src)) return undefined;
  return step.checksum !== undefined ? { kind: 'url', src, checksum: step.checksum } : { kind: 'url', src };
}

/**
 * The key of an unpinned `ADD <url>` whose bytes have `digest` and Last-Modified `mtime`: with
 * the step (the URL, its file name, destination, owner and mode) that is all its layer depends
 * on, as BuildKit keys its HTTP source by file name, digest and Last-Modified.
 */
function downloadKey(ctx: StepContext<CopyStep>, digest: string, mtime: number | null): string {
  return stepCacheKey(ctx.chain, ctx.step, { source: `url ${digest} ${mtime ?? '-'}`, epoch: epoch(ctx) });
}

/** The store's record slot for `src`: the URL with the headers its host is sent (credentials can change the answer). */
function urlSlot(ctx: StepContext<CopyStep>, src: string): string {
  let host = '';
  try {
    host = new URL(src).hostname;
  } catch {
    // an invalid URL fails its download
  }
  return urlRecordSlot([src, JSON.stringify(ctx.settings.http?.headersByHost?.[host] ?? {})]);
}

/** Keeps what a download's ETag stands for, so the next build can ask before downloading again. A shortcut only: a store that cannot take it builds as before. */
async function rememberDownload(ctx: StepContext<CopyStep>, src: string, dl: Download): Promise<void> {
  if (dl.etag === undefined) return;
  await writeUrlRecord(ctx.store, urlSlot(ctx, src), { etag: dl.etag, digest: dl.digest, mtime: dl.mtime ?? null }).catch(() => undefined);
}

/**
 * The key of `ADD <git ref>` checking out `commit`: with the step (the remote, the ref and
 * subdirectory, --keep-git-dir, destination, owner) the commit fixes the tree and its mtimes (the
 * commit's time), as BuildKit keys its git source by the resolved commit.
 */
function commitKey(ctx: StepContext<CopyStep>, commit: string): string {
  return stepCacheKey(ctx.chain, ctx.step, { source: `git ${commit}`, epoch: epoch(ctx) });
}

export const copyExecutor: Executor<CopyStep> = {
  async key(ctx) {
    const remote = remoteSource(ctx.step);
    // ADD <git ref>: the commit the remote names now (`git ls-remote`), so a hit fetches nothing; a
    // commit --checksum that does not match is left to the checkout, which fails on it.
    if (remote?.kind === 'git') {
      const commit = await resolveGitCommit(remote.ref, { signal: ctx.signal });
      if (commit !== undefined && (ctx.step.checksum === undefined || commit.startsWith(ctx.step.checksum.toLowerCase()))) {
        return { cacheable: true, key: commitKey(ctx, commit), explain: { source: commit } };
      }
      // The key comes with the checkout.
      return { cacheable: true };
    }
    // ADD --checksum <url>: a hit downloads nothing.
    if (remote?.checksum !== undefined) return { cacheable: true, key: stepCacheKey(ctx.chain, ctx.step, { source: `url ${remote.checksum}`, epoch: epoch(ctx) }), explain: { source: remote.checksum } };
    // ADD <url>: when the server says the bytes of the last download are current (its ETag), the
    // key without downloading; else the download's bytes name it (a hit then writes no layer).
    if (remote !== undefined) {
      const kept = await readUrlRecord(ctx.store, urlSlot(ctx, remote.src));
      if (kept && (await unchangedSince(remote.src, kept.etag, { ...(ctx.settings.http ? { http: ctx.settings.http } : {}), signal: ctx.signal }))) {
        return { cacheable: true, key: downloadKey(ctx, kept.digest, kept.mtime), explain: { source: kept.digest } };
      }
      const dl = (await prepare(ctx)).plan.downloads[0];
      if (dl === undefined) return { cacheable: true };
      await rememberDownload(ctx, remote.src, dl);
      return { cacheable: true, key: downloadKey(ctx, dl.digest, dl.mtime ?? null), explain: { source: dl.digest } };
    }
    if (ctx.step.from.kind !== 'context') {
      const source = await ctx.inputs.sourceIdentity(ctx.step.from);
      if (source === undefined) return { cacheable: false, reason: 'the source has no identity' };
      return { cacheable: true, key: stepCacheKey(ctx.chain, ctx.step, { source, epoch: epoch(ctx) }), explain: { source } };
    }
    // A rebuild where the context answers as before: the last key, without planning (issue 8).
    const slot = memoSlot(ctx);
    const remembered = slot !== undefined ? await keyFromMemo(ctx, slot) : undefined;
    if (remembered !== undefined) return { cacheable: true, key: remembered, explain: { files: () => explainFilesByPlan(ctx) } };
    const prep = await prepare(ctx);
    const { plan } = prep;
    const { entries } = plan;
    if (entries.hasStreams()) return { cacheable: false, reason: 'it downloads its sources' };
    const statCache = await ctx.inputs.statCache?.();
    if (!statCache) return { cacheable: true };
    // Each file's stat identity, taken when it was planned (one lstat per file in all). Digests by
    // entry (paths made for the moment are not kept as keys).
    const digests: (Digest | undefined)[] = new Array(entries.length);
    let known = 0;
    const unknown: { index: number; path: string; identity: string | undefined; size: number }[] = [];
    let unchanged = true;
    let totalBytes = 0;
    let unknownBytes = 0;
    for (let i = 0; i < entries.length; i++) {
      if (entries.type(i) !== 'file') continue;
      const src = entries.source(i);
      if (src?.kind !== 'path') continue;
      const identity = identityOf(entries, i, src);
      const size = entries.size(i) ?? 0;
      totalBytes += size;
      const d = statCache.get(src.path, identity);
      if (d) {
        digests[i] = d;
        known++;
      } else {
        unknownBytes += size;
        unknown.push({ index: i, path: src.path, identity, size });
      }
    }
    // A rebuild where a few files are unknown to the stat cache (changed, or only touched): read just
    // those to know the key now, so a touched file still hits and a changed one costs one layer
    // write. When none is known (a first build) or many are, the key waits for the layer's single
    // pass over the bytes; with a remote cache (eagerKeys) every unknown file is read now, since a
    // fresh store can only hit with the key known before the step.
    if (unknown.length > 0) {
      const few = known > 0 && unknown.length <= UNKNOWN_FILES_MAX && unknownBytes <= Math.max(UNKNOWN_BYTES_MIN, totalBytes / 4);
      if (!few && !ctx.settings.eagerKeys) return { cacheable: true, ...flightOf(ctx, entries) };
      const inContext = contextPrefix(ctx);
      const hashed = await hashFiles(unknown, { signal: ctx.signal, fail: contextReadError });
      for (let j = 0; j < unknown.length; j++) {
        const u = unknown[j]!;
        const { digest, identity } = hashed[j]!;
        digests[u.index] = digest;
        // Remembered only if the file did not change while it was read (as after a layer write): its
        // identity from the open file after the read, or (a file of no bytes, never opened) a stat.
        if (u.identity !== undefined && u.path.startsWith(inContext) && (identity ?? statKey(u.path)) === u.identity) statCache.set(u.path, u.identity, digest);
        else unchanged = false;
      }
    }
    const { key, explain } = await contextKey(ctx, plan, (_file, i) => digests[i]);
    // The memo keeps this key only if every digest belongs to the identity the planner saw.
    if (unchanged) await rememberKey(ctx, prep, key);
    return { cacheable: true, key, explain };
  },

  async execute(ctx) {
    const prep = await prepare(ctx);
    const { plan } = prep;
    const fromContext = ctx.step.from.kind === 'context';
    const statCache = fromContext ? await ctx.inputs.statCache?.() : undefined;
    const { entries } = plan;
    // A remote source's key is its commit, checksum or bytes': no key of context files replaces it.
    const remote = remoteSource(ctx.step);
    const cacheable = statCache !== undefined && !entries.hasStreams() && remote === undefined;
    let fileDigests: FileDigests | undefined;
    let readCheck: { changed: Set<string>; unchecked: Set<string> } | undefined;
    const sde = ctx.settings.sourceDateEpoch;
    const layer = await writeLayerBlob(ctx, async (out) => {
      const r = await writeLayer(entries, out, {
        compression: 'gzip',
        ...(cacheable ? { fileDigests: true } : {}),
        ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
        signal: ctx.signal,
      });
      fileDigests = r.fileDigests;
      readCheck = r.readCheck;
      return r;
    });
    const outcome = { ...outcomeWith(ctx, layer), warnings: plan.warnings };
    // ADD <git ref>: keyed by the commit checked out (the ref may have moved since key() asked).
    const commit = remote?.kind === 'git' ? plan.commits[0] : undefined;
    if (commit !== undefined) return { ...outcome, key: commitKey(ctx, commit), explain: { source: commit } };
    // ADD <url>: keyed by what was downloaded now (the server may have changed it since key() asked).
    const dl = remote?.kind === 'url' && remote.checksum === undefined ? plan.downloads[0] : undefined;
    if (remote?.kind === 'url' && dl !== undefined) {
      await rememberDownload(ctx, remote.src, dl);
      return { ...outcome, key: downloadKey(ctx, dl.digest, dl.mtime ?? null), explain: { source: dl.digest } };
    }
    if (!cacheable || !fileDigests) return outcome;
    // Remember a context file's digest only if it did not change while it was read: its identity
    // before the key (from planning) is its identity after the read (taken by the writer from the
    // open file when it read it whole, else a stat now). Downloads and checkouts live in temp dirs:
    // never worth remembering.
    const inContext = contextPrefix(ctx);
    let unchanged = true;
    // Which entries' files are remembered: a bit per entry; the records are made from the plan
    // when the stat cache needs them (see StatCache.setAll).
    const remembered = new Uint8Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      if (entries.type(i) !== 'file') continue;
      const src = entries.source(i);
      if (src?.kind !== 'path') continue;
      const { path: file, identity } = src;
      if (identity === undefined || !file.startsWith(inContext)) {
        unchanged = false;
        continue;
      }
      // (An empty file is not read, a big one is read in ranges: their identity is taken now.)
      if (!readCheck || readCheck.changed.has(file) || (readCheck.unchecked.has(file) && statKey(file) !== identity)) {
        unchanged = false;
        continue;
      }
      if (fileDigests.entry(i) !== undefined) remembered[i] = 1;
    }
    // By entry: a digest asked for by path would make the writer keep a map of every path.
    const digests = fileDigests;
    statCache!.setAll({
      length: entries.length,
      at(i) {
        if (remembered[i] !== 1) return undefined;
        const src = entries.source(i) as { path: string; identity: string };
        return { file: src.path, key: src.identity, digest: digests.entry(i)! };
      },
    });
    const { key, explain } = await contextKey(ctx, plan, (_file, i) => digests.entry(i));
    if (unchanged) await rememberKey(ctx, prep, key);
    return { ...outcome, key, explain };
  },

  reuse(ctx, layer) {
    return outcomeWith(ctx, layer);
  },
};
