import type { LayerEntrySource } from '../layers/types.js';
import type { ChownSpec, LookupFile } from './chown.js';

/** A heredoc source of COPY/ADD (`COPY <<EOF /dest`): the heredoc word and its (expanded) body. */
export interface InlineFile {
  /** The heredoc name; the file is called this when the destination is a directory. */
  name: string;
  data: string | Uint8Array;
}

/**
 * One COPY or ADD step, as the compiler types it: flags parsed, variables
 * expanded. Paths are Dockerfile paths (slash-separated).
 */
export interface CopySpec {
  /** `ADD` also accepts URLs and git repositories and unpacks local archives. */
  instruction: 'COPY' | 'ADD';
  /** Source paths (relative to the source root; `..` and a leading `/` are clamped), URLs, git refs. */
  sources: string[];
  /** Heredoc sources, copied after `sources`. */
  inline?: InlineFile[];
  /** Destination as written; a trailing `/` makes it a directory. */
  dest: string;
  /** WORKDIR of the stage, for a relative `dest` (default `/`). */
  workdir?: string;
  /** `--chown`: names are resolved from the destination image's /etc/passwd and /etc/group. */
  chown?: ChownSpec;
  /** `--chmod`: octal (`755`) or symbolic (`u+x,g-w`). */
  chmod?: string;
  /**
   * `--link`: build the layer without reading the destination image (no
   * symlink following, parents created as fresh directories, --chown names
   * refused). As in BuildKit it has no effect together with `--chmod`.
   */
  link?: boolean;
  /** `--parents`: keep the source paths' parent directories (relative to the source root, or to a `/./` pivot). */
  parents?: boolean;
  /** `--exclude` patterns (dockerignore syntax), matched below each source. */
  excludes?: string[];
  /** ADD `--checksum`: `sha256:<hex>` for URLs, a commit SHA (or prefix) for git. */
  checksum?: string;
  /** ADD `--keep-git-dir`: keep `.git` of a git source. */
  keepGitDir?: boolean;
  /** ADD `--unpack`: default true for local archives, false for URLs. */
  unpack?: boolean;
}

/** Which .dockerignore line excluded a path. */
export interface IgnoreHit {
  /** The ignore file as shown to users, e.g. `.dockerignore` or `Dockerfile.dockerignore`. */
  file: string;
  /** 1-based line in that file. */
  line: number;
  /** The pattern as written on that line. */
  pattern: string;
}

/** File types a source tree can hold. */
export type SourceType = 'file' | 'directory' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** What the planner needs to know about a source path (lstat, never following). */
export interface SourceStat {
  type: SourceType;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; undefined lets the layer writer decide (SOURCE_DATE_EPOCH or 0). */
  mtime?: number;
  size: number;
  /** Identity for hardlink detection (`${dev}:${ino}`), only for regular files with more than one link. */
  linkKey?: string;
  /**
   * For a regular file on disk: `${dev}:${ino}:${size}:${mtimeNs}:${ctimeNs}` from this
   * very lstat (the stat cache's key), so a warm rebuild needs no second stat per file.
   */
  identity?: string;
  devmajor?: number;
  devminor?: number;
  /**
   * A directory that is itself excluded (.dockerignore) but may hold
   * re-included entries: created only when something below it is copied.
   */
  pending?: boolean;
}

/**
 * A tree COPY reads from: the build context (with .dockerignore applied),
 * another stage's root, an image's root, a git checkout, an extracted archive.
 * Paths are relative and slash-separated ('' is the root).
 */
export interface SourceFs {
  /** Shown in messages: `build context`, `stage "build"`, `image "alpine"`. */
  readonly description: string;
  /** Stat without following symlinks; undefined when absent (or excluded from the context). */
  lstat(rel: string): Promise<SourceStat | undefined>;
  readlink(rel: string): Promise<string>;
  /** Names in a directory that are part of the source (excluded ones left out), any order. */
  readdir(rel: string): Promise<string[]>;
  /** Where the bytes of a regular file come from when the layer is written. */
  contentSource(rel: string, stat: SourceStat): LayerEntrySource;
  /** Why a path is not in the source (the .dockerignore line), when it is excluded. */
  excludedBy?(rel: string): IgnoreHit | undefined;
  /** `lstat` without a promise, when the source can (a directory on disk): the copy memo's replay asks thousands. */
  lstatSync?(rel: string): SourceStat | undefined;
  /** `readdir` without a promise, when the source can. */
  readdirSync?(rel: string): string[];
  /**
   * The answer of `lstatSync` as a row of numbers (src/copy/answer-row.ts), written into `row`,
   * when the source can make it without a SourceStat; false when it has no exact row. Throws as lstat.
   */
  lstatRowSync?(rel: string, row: Float64Array): boolean;
}

/** What the destination image holds at a path (lstat, never following). */
export interface DestStat {
  type: SourceType | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  linkname?: string;
}

/**
 * Read access to the destination image's filesystem (the state COPY writes
 * on top of). Not consulted with `--link`. Paths are absolute (`/etc/passwd`).
 */
export interface DestFs {
  lstat(path: string): Promise<DestStat | undefined>;
  readlink(path: string): Promise<string>;
  /** Contents of a file, following symlinks inside the image; undefined when absent. */
  readFile(path: string): Promise<Uint8Array | undefined>;
}

/** Dependencies and environment of one COPY/ADD. */
export interface CopyOptions {
  /** Where local sources are read from (the build context, or the `--from` root). */
  source: SourceFs;
  /** The destination image's filesystem; omit for `FROM scratch`. Ignored with `--link` except for `--chown` names. */
  dest?: DestFs;
  /** Reads /etc/passwd and /etc/group for `--chown` names (default: `dest.readFile`). */
  lookupFile?: LookupFile;
  /** A directory for downloads, git checkouts and extracted archives; the caller owns and removes it. */
  tmpDir?: string;
  /** HTTP(S) access for ADD URLs. */
  http?: HttpOptions;
  /** The git program (default `git` on PATH). */
  git?: string;
  signal?: AbortSignal;
}

/** HTTP options for ADD URL sources. */
export interface HttpOptions {
  /** An undici Dispatcher (Agent, ProxyAgent, MockAgent); default a fresh Agent per download. */
  dispatcher?: import('undici').Dispatcher;
  /** Redirects followed (default 10). */
  maxRedirections?: number;
  /** Extra request headers (e.g. from `HTTP_AUTH_HEADER_<host>` secrets) by host name. */
  headersByHost?: Record<string, Record<string, string>>;
}

/** A non-fatal observation while planning (e.g. a wildcard that matched nothing). */
export interface CopyWarning {
  message: string;
  source?: string;
}
