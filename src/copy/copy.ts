/**
 * COPY and ADD: from a typed step to the entries of its layer.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { OcibuildError } from '../errors.js';
import { writeLayer } from '../layers/write.js';
import type { LayerResult, WriteLayerOptions } from '../layers/types.js';
import { addGit, addUrl, copyDirItem, copyLeafItem, unpackIfArchive, type DestTarget } from './add.js';
import { parseChmod } from './chmod.js';
import { chownNeedsLookup, resolveChown } from './chown.js';
import { parseGitRef, type GitRef } from './git.js';
import { containsWildcards, filepathMatch, BadPatternError, splitWildcards, unescapeLiteral } from './glob.js';
import { isHttpSource, redactUrl, type Download } from './http.js';
import { excludeMatcher } from './ignore.js';
import { absClean, baseName, joinRel, resolveDestination, resolveInRoot, toRel, type LinkReader } from './paths.js';
import { compareNames, LayerPlan, type ExcludeMatcher } from './plan.js';
import type { PlannedEntries } from './plan-entries.js';
import type { CopyOptions, CopySpec, CopyWarning, SourceFs, SourceStat } from './types.js';

/** The planned layer of one COPY/ADD. */
export interface CopyPlan {
  /**
   * Entries for the layer writer (metadata; file bytes are read when written), kept compact:
   * each is made when asked for (see plan-entries.ts).
   */
  entries: PlannedEntries;
  warnings: CopyWarning[];
  /**
   * True when no file is the source of two entries (a plan of one source item: its tree is
   * walked once). False says nothing: a file may be copied to two places (`COPY . sub /d/`).
   */
  sourcesOnce: boolean;
  /** What the plan downloaded (ADD <url>), in source order: the bytes' digest, Last-Modified and ETag. */
  downloads: readonly Download[];
  /** The commits the plan checked out (ADD <git ref>), in source order. */
  commits: readonly string[];
  /** Remove downloads, checkouts and extracted archives. Call after the layer is written. */
  dispose(): Promise<void>;
}

type Item =
  | { kind: 'local'; src: string; rel: string; st: SourceStat; name: string }
  | { kind: 'parents'; src: string; base: string; pattern: string }
  | { kind: 'url'; src: string }
  | { kind: 'git'; src: string; ref: GitRef }
  | { kind: 'inline'; name: string; data: Uint8Array };

function reader(fsrc: SourceFs): LinkReader {
  return {
    kind: async (rel) => {
      const st = await fsrc.lstat(rel);
      if (!st) return undefined;
      return st.type === 'directory' ? 'directory' : st.type === 'symlink' ? 'symlink' : 'other';
    },
    readlink: (rel) => fsrc.readlink(rel),
  };
}

function shown(rel: string): string {
  return rel === '' ? '.' : rel;
}

/** CONTEXT_NOT_FOUND or, when .dockerignore is why, CONTEXT_EXCLUDED with the line. */
function missing(fsrc: SourceFs, instruction: string, src: string, rels: string[]): OcibuildError {
  for (const rel of rels) {
    const hit = rel === '' ? undefined : fsrc.excludedBy?.(rel);
    if (hit) {
      return new OcibuildError('CONTEXT_EXCLUDED', `"${shown(rel)}" is excluded by ${hit.file}:${hit.line}: ${hit.pattern}`, {
        hint: `${instruction} source ${JSON.stringify(src)} cannot be used while ${hit.file} excludes it`,
        details: { path: '/' + rel, ignoreFile: hit.file, line: hit.line, pattern: hit.pattern },
      });
    }
  }
  const rel = rels[0] ?? '';
  return new OcibuildError('CONTEXT_NOT_FOUND', `${instruction} source ${JSON.stringify(src)} not found: "/${rel}" does not exist in the ${fsrc.description}`, {
    details: { path: '/' + rel, source: src },
  });
}

/** Walk `baseRel` for paths matching `pattern` (relative to it), in lexical order, not descending into matched dirs. */
async function globMatches(fsrc: SourceFs, baseRel: string, pattern: string): Promise<string[]> {
  const depth = pattern.split('/').length;
  const out: string[] = [];
  const walk = async (dir: string, rel: string, level: number): Promise<void> => {
    const names = (await fsrc.readdir(dir)).sort(compareNames);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childPath = joinRel(dir, name);
      let ok: boolean;
      try {
        ok = filepathMatch(pattern, childRel);
      } catch (e) {
        if (e instanceof BadPatternError) throw new OcibuildError('DOCKERFILE_INSTRUCTION', `syntax error in pattern ${JSON.stringify(pattern)}`);
        throw e;
      }
      if (ok) {
        out.push(childPath);
        continue;
      }
      if (level + 1 < depth) {
        const st = await fsrc.lstat(childPath);
        if (st?.type === 'directory') await walk(childPath, childRel, level + 1);
      }
    }
  };
  await walk(baseRel, '', 0);
  return out;
}

async function resolveLocal(fsrc: SourceFs, instruction: string, src: string, warnings: CopyWarning[], excludes: ExcludeMatcher | undefined): Promise<Item[]> {
  const clean = absClean(src);
  const [d1, d2] = splitWildcards(clean);
  const rd = reader(fsrc);
  if (d2 === '') {
    const rel = toRel(unescapeLiteral(clean));
    const followed = await resolveInRoot(rd, '/' + rel, true, src);
    const st = await fsrc.lstat(followed);
    if (!st) throw missing(fsrc, instruction, src, [rel, followed]);
    return [{ kind: 'local', src, rel: followed, st, name: baseName('/' + rel) }];
  }
  const base = await resolveInRoot(rd, unescapeLiteral(d1), true, src);
  const bst = await fsrc.lstat(base);
  // fsutil walks the wildcard's base directory: a missing base is an error,
  // while a wildcard matching nothing in an existing one is allowed.
  if (!bst) throw missing(fsrc, instruction, src, [toRel(unescapeLiteral(d1)), base]);
  const matches = bst?.type === 'directory' ? await globMatches(fsrc, base, d2) : [];
  const items: Item[] = [];
  for (const m of matches) {
    const relToBase = m.slice(base === '' ? 0 : base.length + 1);
    if (excludes?.matches(relToBase)) continue;
    const followed = await resolveInRoot(rd, '/' + m, true, src);
    const st = await fsrc.lstat(followed);
    if (!st) throw missing(fsrc, instruction, src, [m, followed]);
    items.push({ kind: 'local', src, rel: followed, st, name: baseName('/' + m) });
  }
  if (matches.length === 0) {
    // BuildKit allows a wildcard to match nothing (AllowEmptyWildcard).
    warnings.push({ source: src, message: `${instruction} source ${JSON.stringify(src)} matched no files in the ${fsrc.description}` });
  }
  return items;
}

function checkFlags(spec: CopySpec): void {
  const n = spec.sources.length + (spec.inline?.length ?? 0);
  if (n === 0) throw new OcibuildError('DOCKERFILE_INSTRUCTION', `${spec.instruction} requires at least one source and a destination`);
  if (spec.instruction === 'COPY') {
    for (const f of ['checksum', 'keepGitDir', 'unpack'] as const) {
      if (spec[f] !== undefined) throw new OcibuildError('DOCKERFILE_INSTRUCTION', `${f === 'keepGitDir' ? '--keep-git-dir' : '--' + f} can't be specified for COPY`);
    }
  }
  if (spec.checksum !== undefined) {
    if (spec.sources.length !== 1 || (spec.inline?.length ?? 0) > 0) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', 'checksum can\'t be specified for multiple sources');
    }
    const s = spec.sources[0]!;
    if (!isHttpSource(s) && !parseGitRef(s)) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', 'checksum can\'t be specified for non-HTTP(S) or git sources');
    }
  }
}

/**
 * Plan the layer of a COPY or ADD: resolve sources (globs, symlinks, .dockerignore),
 * the destination (WORKDIR, trailing slash, symlinks of the destination image
 * unless --link), owners (--chown), modes (--chmod), and ADD's URLs, git
 * repositories and local archives. Nothing is read outside the source root.
 *
 * @throws OcibuildError CONTEXT_NOT_FOUND, CONTEXT_EXCLUDED, DOCKERFILE_INSTRUCTION,
 *   LAYER_INVALID, LAYER_ESCAPE, ADD_DOWNLOAD, ADD_CHECKSUM, ADD_GIT.
 */
export async function planCopy(spec: CopySpec, options: CopyOptions): Promise<CopyPlan> {
  checkFlags(spec);
  const chmod = spec.chmod !== undefined ? parseChmod(spec.chmod) : undefined;
  const lookup = options.lookupFile ?? (options.dest ? (p: string) => options.dest!.readFile(p) : undefined);
  // BuildKit links (copies onto scratch, then merges) only when --chmod is not
  // given; with --chmod, --link changes nothing (dispatchCopy: link && chmod == "").
  const linked = spec.link === true && spec.chmod === undefined;
  if (linked && spec.chown && chownNeedsLookup(spec.chown)) {
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', `--chown=${spec.chown.user}${spec.chown.group !== undefined ? ':' + spec.chown.group : ''} needs the image's user database, which --link does not read`, {
      hint: 'use numeric ids with --link (e.g. --chown=1000:1000)',
    });
  }
  const owner = spec.chown ? await resolveChown(spec.chown, lookup) : undefined;
  const plan = new LayerPlan({ owner, chmod, dest: linked ? undefined : options.dest, signal: options.signal });
  const dest = resolveDestination(spec.dest, spec.workdir ?? '/');
  let excludes: ExcludeMatcher | undefined;
  if (spec.excludes && spec.excludes.length > 0) {
    try {
      excludes = excludeMatcher(spec.excludes);
    } catch (e) {
      if (e instanceof OcibuildError) throw new OcibuildError('DOCKERFILE_INSTRUCTION', `--exclude: ${e.message}`, { cause: e });
      throw e;
    }
  }
  const warnings: CopyWarning[] = [];
  const downloads: Download[] = [];
  const commits: string[] = [];
  const fsrc = options.source;

  const items: Item[] = [];
  for (const src of spec.sources) {
    const git = parseGitRef(src);
    if (git || isHttpSource(src)) {
      if (spec.instruction === 'COPY') {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `source can't be a ${git ? 'git ref' : 'URL'} for COPY: ${redactUrl(src)}`, { hint: 'use ADD' });
      }
      items.push(git ? { kind: 'git', src, ref: git } : { kind: 'url', src });
      continue;
    }
    if (spec.parents) {
      const cut = src.indexOf('/./');
      const base = cut < 0 ? '/' : src.slice(0, cut);
      const pattern = toRel(absClean(cut < 0 ? src : src.slice(cut + 3)));
      items.push({ kind: 'parents', src, base, pattern });
      continue;
    }
    items.push(...(await resolveLocal(fsrc, spec.instruction, src, warnings, excludes)));
  }
  for (const f of spec.inline ?? []) {
    items.push({ kind: 'inline', name: baseName('/' + f.name), data: typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : f.data });
  }
  if (!spec.parents && items.length > 1 && !dest.isDir) {
    throw new OcibuildError('DOCKERFILE_INSTRUCTION', `When using ${spec.instruction} with more than one source file, the destination must be a directory and end with a /`, {
      details: { dest: spec.dest, sources: items.length },
    });
  }

  let work: string | undefined;
  const workDir = async (): Promise<string> => {
    if (work) return work;
    if (!options.tmpDir) throw new OcibuildError('USAGE', `${spec.instruction}: options.tmpDir is required for URLs, git sources and archives`);
    work = await fs.promises.mkdtemp(path.join(options.tmpDir, 'copy-'));
    return work;
  };
  const dispose = async () => {
    if (work) await fs.promises.rm(work, { recursive: true, force: true });
  };

  try {
    const target: DestTarget = dest;
    for (const it of items) {
      switch (it.kind) {
        case 'local':
          if (it.st.type === 'directory') {
            await copyDirItem(plan, target, fsrc, it.rel, { excludes });
          } else {
            const unpack = spec.instruction === 'ADD' && spec.unpack !== false && it.st.type === 'file';
            const content = unpack ? fsrc.contentSource(it.rel, it.st) : undefined;
            if (content?.kind === 'path' && (await unpackIfArchive(plan, target, content.path, it.src, await workDir(), options.signal))) break;
            await copyLeafItem(plan, target, it.name, it.st, fsrc, it.rel);
          }
          break;
        case 'parents': {
          const rd = reader(fsrc);
          const baseRel = await resolveInRoot(rd, absClean(unescapeLiteral(it.base)), true, it.src);
          const bst = await fsrc.lstat(baseRel);
          if (!bst || bst.type !== 'directory') throw missing(fsrc, spec.instruction, it.src, [baseRel]);
          const n = await copyDirItem(plan, { path: target.path, isDir: true }, fsrc, baseRel, {
            excludes,
            include: it.pattern === '' ? undefined : it.pattern,
          });
          if (n === 0) {
            if (!containsWildcards(it.pattern)) throw missing(fsrc, spec.instruction, it.src, [joinRel(baseRel, unescapeLiteral(it.pattern))]);
            warnings.push({ source: it.src, message: `${spec.instruction} --parents source ${JSON.stringify(it.src)} matched no files in the ${fsrc.description}` });
          }
          break;
        }
        case 'url':
          downloads.push(await addUrl(plan, target, it.src, { checksum: spec.checksum, unpack: spec.unpack }, options, await workDir()));
          break;
        case 'git':
          commits.push((await addGit(plan, target, it.ref, { checksum: spec.checksum, keepGitDir: spec.keepGitDir }, options, await workDir())).commit);
          break;
        case 'inline': {
          const data = it.data;
          const inlineFs: SourceFs = {
            description: 'heredoc',
            lstat: async () => undefined,
            readlink: async () => '',
            readdir: async () => [],
            contentSource: () => ({ kind: 'buffer', data }),
          };
          await copyLeafItem(plan, target, it.name, { type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.byteLength }, inlineFs, it.name);
          break;
        }
      }
    }
  } catch (e) {
    await dispose();
    throw e;
  }
  return { entries: plan.entries(), warnings, sourcesOnce: items.length <= 1, downloads, commits, dispose };
}

/** What {@link copyToLayer} yields: the layer and the planner's warnings. */
export interface CopyLayerResult extends LayerResult {
  warnings: CopyWarning[];
  /** Number of entries written. */
  entryCount: number;
}

/**
 * Plan a COPY/ADD and write its layer to `out` in one pass (file bytes
 * streamed from disk by the layer writer). Temporary downloads, checkouts and
 * extracted archives are removed afterwards.
 */
export async function copyToLayer(spec: CopySpec, options: CopyOptions, out: Writable, layerOptions: WriteLayerOptions = {}): Promise<CopyLayerResult> {
  const plan = await planCopy(spec, options);
  try {
    const result = await writeLayer(plan.entries, out, { ...layerOptions, signal: layerOptions.signal ?? options.signal });
    return { ...result, warnings: plan.warnings, entryCount: plan.entries.length };
  } finally {
    await plan.dispose();
  }
}
