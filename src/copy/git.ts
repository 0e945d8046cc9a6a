/**
 * ADD <git repository>: reference parsing as BuildKit's gitutil.ParseGitRef
 * (`https://host/repo.git#ref:subdir`, `git@host:repo.git#ref:subdir`,
 * `ssh://`, `git://`), checkout with the system git (shallow where the server
 * allows it), submodules, `--keep-git-dir`, commit `--checksum`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OcibuildError } from '../errors.js';
import { redactUrl } from './http.js';

/** A parsed git source. */
export interface GitRef {
  /** What `git fetch` gets (fragment removed). */
  remote: string;
  /** Branch, tag or commit from the fragment; undefined means the default branch. */
  ref?: string;
  /** Sub directory from the fragment (`#ref:subdir`). */
  subdir?: string;
}

const SCP_LIKE = /^(?:[A-Za-z0-9_.~-]+@)?([A-Za-z0-9_.-]+):(?!\/\/)(.+)$/;

/**
 * Parse a git source, or undefined when `src` is not one (throws ADD_GIT
 * for a git address or ref that could be taken for a git option). As in BuildKit, an
 * http(s) URL is git only when its path ends in `.git`; `git@host:path`,
 * `ssh://` and `git://` always are. The fragment is `#ref`, `#ref:subdir` or
 * `#:subdir`.
 */
export function parseGitRef(src: string): GitRef | undefined {
  if (src.startsWith('./') || src.startsWith('../') || src.startsWith('/')) return undefined;
  const hash = src.indexOf('#');
  const remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? undefined : src.slice(hash + 1);
  let isGit = false;
  if (/^https?:\/\//.test(remote)) {
    try {
      isGit = new URL(remote).pathname.endsWith('.git');
    } catch {
      return undefined;
    }
  } else if (/^(ssh|git):\/\//.test(remote)) {
    isGit = true;
  } else if (remote.includes('@') && SCP_LIKE.test(remote)) {
    isGit = true;
  }
  if (!isGit) return undefined;
  if (remote.startsWith('-') || /[\s\0]/.test(remote) || /^[^/]*@-/.test(remote)) {
    throw new OcibuildError('ADD_GIT', `invalid git repository address ${JSON.stringify(redactUrl(remote))}`);
  }
  const out: GitRef = { remote };
  if (fragment !== undefined && fragment !== '') {
    const colon = fragment.indexOf(':');
    const ref = colon < 0 ? fragment : fragment.slice(0, colon);
    const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
    if (ref !== '') {
      // never let a ref be taken for a git option (--upload-pack=...)
      if (ref.startsWith('-') || !/^[\x21-\x7e]+$/.test(ref) || ref.includes('..')) {
        throw new OcibuildError('ADD_GIT', `invalid git ref ${JSON.stringify(ref)} in ${redactUrl(remote)}`);
      }
      out.ref = ref;
    }
    if (subdir !== '') out.subdir = subdir;
  }
  return out;
}

/** A checked-out repository. */
export interface GitCheckout {
  /** Working tree (with `.git`). */
  dir: string;
  /** The commit checked out. */
  commit: string;
  /** Commit time (seconds), used as the mtime of every copied entry. */
  commitTime: number;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(git: string, args: string[], cwd: string, signal?: AbortSignal): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(git, args, {
      cwd,
      signal,
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_ASKPASS: 'true',
        GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
        LC_ALL: 'C',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    child.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new OcibuildError('ADD_GIT', `cannot run ${git}: not installed`, { cause: e, hint: 'install git to ADD git repositories' }));
      } else reject(new OcibuildError('ADD_GIT', `cannot run ${git}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function failure(what: string, shown: string, r: RunResult): OcibuildError {
  const lines = r.stderr.trim().split('\n').slice(-5).join('\n');
  return new OcibuildError('ADD_GIT', `${what} ${shown} failed: ${lines || `exit ${r.code}`}`);
}

/**
 * The commit `ref` names now, asked of the remote without fetching (`git ls-remote`), as
 * BuildKit's git source resolves a ref before its cache is asked: a full commit SHA names itself;
 * a name is matched as `git fetch` would take it (the name itself, then `refs/`, `refs/tags/` with
 * an annotated tag's commit, `refs/heads/`, `refs/remotes/`). Undefined when the remote cannot
 * say (a SHA prefix, an unadvertised commit, a dumb HTTP server, no network): the caller checks
 * out and keys by what it got.
 */
export async function resolveGitCommit(ref: GitRef, options: { git?: string; signal?: AbortSignal } = {}): Promise<string | undefined> {
  const want = ref.ref ?? 'HEAD';
  if (/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(want)) return want;
  let r: RunResult;
  try {
    r = await run(options.git ?? 'git', ['ls-remote', '--', ref.remote, want, `${want}^{}`], process.cwd(), options.signal); // the second pattern: an annotated tag's commit
  } catch {
    options.signal?.throwIfAborted();
    return undefined;
  }
  if (r.code !== 0) return undefined;
  const refs = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]{40}|[0-9a-f]{64})\t(\S+)$/.exec(line);
    if (m) refs.set(m[2]!, m[1]!);
  }
  for (const name of [want, `refs/${want}`, `refs/tags/${want}`, `refs/heads/${want}`, `refs/remotes/${want}`, `refs/remotes/${want}/HEAD`]) {
    const peeled = refs.get(`${name}^{}`);
    if (peeled !== undefined) return peeled;
    const commit = refs.get(name);
    if (commit !== undefined) return commit;
  }
  return undefined;
}

/**
 * Fetch `ref` of `remote` into a new directory under `tmpDir` and check it
 * out (detached). Tries a shallow fetch of the ref first; falls back to a full
 * fetch (dumb HTTP servers, commits not advertised). Submodules are checked
 * out recursively. `checksum` (a commit SHA or prefix) is verified.
 */
export async function checkoutGit(ref: GitRef, tmpDir: string, options: { git?: string; checksum?: string; signal?: AbortSignal } = {}): Promise<GitCheckout> {
  const git = options.git ?? 'git';
  const shown = redactUrl(ref.remote);
  const dir = await fs.promises.mkdtemp(path.join(tmpDir, 'git-'));
  const g = (args: string[]) => run(git, args, dir, options.signal);
  let r = await g(['init', '-q']);
  if (r.code !== 0) throw failure('git init for', shown, r);
  r = await g(['remote', 'add', 'origin', ref.remote]);
  if (r.code !== 0) throw failure('git remote add', shown, r);
  const want = ref.ref ?? 'HEAD';
  r = await g(['fetch', '-q', '--depth=1', '--no-tags', '--recurse-submodules=no', 'origin', want]);
  if (r.code !== 0) {
    // Dumb HTTP or an unadvertised commit: full fetch, then resolve the ref locally.
    const full = await g(['fetch', '-q', '--tags', '--recurse-submodules=no', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
    if (full.code !== 0) throw failure('git fetch of', shown, full);
    let candidates: string[];
    if (ref.ref === undefined) {
      // the remote's default branch, as `git clone` would pick it
      const sym = await g(['ls-remote', '--symref', 'origin', 'HEAD']);
      const m = sym.code === 0 ? /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(sym.stdout) : null;
      candidates = [...(m ? [`refs/remotes/origin/${m[1]}`] : []), 'refs/remotes/origin/main', 'refs/remotes/origin/master'];
    } else {
      candidates = [`refs/remotes/origin/${ref.ref}`, `refs/tags/${ref.ref}`, ref.ref];
    }
    let resolved: string | undefined;
    for (const c of candidates) {
      const rp = await g(['rev-parse', '-q', '--verify', `${c}^{commit}`]);
      if (rp.code === 0) {
        resolved = rp.stdout.trim();
        break;
      }
    }
    if (!resolved) {
      throw new OcibuildError('ADD_GIT', `git ref ${JSON.stringify(ref.ref ?? 'HEAD')} not found in ${shown}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    }
    r = await g(['-c', 'advice.detachedHead=false', 'checkout', '-q', resolved]);
  } else {
    r = await g(['-c', 'advice.detachedHead=false', 'checkout', '-q', 'FETCH_HEAD']);
  }
  if (r.code !== 0) throw failure('git checkout of', shown, r);
  const head = await g(['log', '-1', '--format=%H %ct']);
  if (head.code !== 0) throw failure('git log of', shown, head);
  const [commit, ct] = head.stdout.trim().split(' ');
  if (fs.existsSync(path.join(dir, '.gitmodules'))) {
    const sm = await g(['-c', 'protocol.file.allow=user', 'submodule', 'update', '-q', '--init', '--recursive', '--depth=1']);
    if (sm.code !== 0) {
      const again = await g(['submodule', 'update', '-q', '--init', '--recursive']);
      if (again.code !== 0) throw failure('git submodule update of', shown, again);
    }
  }
  if (options.checksum !== undefined) {
    const want = options.checksum.toLowerCase();
    if (!/^[0-9a-f]{1,64}$/.test(want)) {
      throw new OcibuildError('DOCKERFILE_INSTRUCTION', `invalid checksum ${JSON.stringify(options.checksum)} for git source ${shown}: expected a commit SHA or prefix`);
    }
    if (!commit!.startsWith(want)) {
      throw new OcibuildError('ADD_CHECKSUM', `checksum mismatch for ${shown}: expected commit ${options.checksum}, got ${commit}`, {
        details: { expected: options.checksum, actual: commit },
      });
    }
  }
  return { dir, commit: commit!, commitTime: Number(ct) };
}
