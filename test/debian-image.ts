/**
 * A Debian base image made offline in the test setup: `debootstrap
 * --variant=minbase bookworm` from the machine's configured Debian mirror,
 * cleaned as Docker's debian images are (no .debs, no apt lists, an empty
 * /dev), tarred with GNU tar and compressed with pigz into an OCI layout.
 *
 * The layout is cached between runs under `$OCIBUILD_TEST_CACHE` (default
 * `~/.cache/ocibuild-test`), keyed by suite, variant and architecture (never
 * by date), and made at most once at a time across processes: a lock file
 * holds the pid of the process making it, so concurrent test files wait for
 * one debootstrap instead of running two. A cold make takes about 3 minutes
 * here (debootstrap downloads about 30 MB); a cached one costs nothing.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, type TestRegistry } from './registry/harness.js';
import { initLayout, pushBaseImage, writeImage, writeLayoutIndex } from './registry/base-image.js';

/** Where test images are cached between runs. */
export function testCacheDir(): string {
  return process.env.OCIBUILD_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'ocibuild-test');
}

/** The Debian mirror apt uses on this machine (deb822 .sources or sources.list), else deb.debian.org. */
export function debianMirror(): string {
  if (process.env.OCIBUILD_TEST_DEBIAN_MIRROR) return process.env.OCIBUILD_TEST_DEBIAN_MIRROR;
  const candidates: string[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).sort().filter((f) => f.endsWith('.sources') || f.endsWith('.list')).map((f) => path.join(dir, f)) : [];
  for (const file of ['/etc/apt/sources.list', ...files]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (file.endsWith('.sources')) {
      for (const para of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(para)?.[1]?.trim();
        if (/^enabled:\s*no/im.test(para)) continue;
        const uris = field('URIs')?.split(/\s+/) ?? [];
        const suites = field('Suites')?.split(/\s+/) ?? [];
        if (field('Types')?.split(/\s+/).includes('deb') && suites.includes('bookworm')) candidates.push(...uris);
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line);
        if (m) candidates.push(m[1]!);
      }
    }
  }
  return candidates.find((u) => /^https?:\/\//.test(u) && !/security/.test(u))?.replace(/\/$/, '') ?? 'http://deb.debian.org/debian';
}

/** Why an image cannot be made here (not root, no debootstrap), or undefined when it can. */
export async function debianImageUnavailable(): Promise<string | undefined> {
  if (existsSync(path.join(layoutDir(), 'index.json'))) return undefined;
  if (process.getuid?.() !== 0) return 'debootstrap needs root to make the Debian base image (and none is cached)';
  try {
    await run('sh', ['-c', 'command -v debootstrap']);
  } catch {
    return 'debootstrap is not installed (apt-get install debootstrap)';
  }
  return undefined;
}

const SUITE = 'bookworm';

function arch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
}

function layoutDir(): string {
  return path.join(testCacheDir(), `debian-${SUITE}-minbase-${arch()}-v3`); // v2: without the host's /etc/hostname and /etc/resolv.conf; v3: a v2 made by bench/run-bench.js had no history (its writeLayout now writes these bytes)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Run `fn` holding an exclusive lock file (pid inside; a dead holder's lock is taken over). */
export async function withLockFile<T>(lock: string, fn: () => Promise<T>, timeoutMs = 20 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (holder > 0 && !alive(holder)) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (held by pid ${holder})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

async function sha256File(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(file)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** Make the layout (debootstrap, clean, tar, pigz) into `dir` through a temp dir beside it. */
async function makeLayout(dir: string): Promise<void> {
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const root = path.join(work, 'rootfs');
  await mkdir(root, { recursive: true });
  const started = Date.now();
  try {
    await run('debootstrap', ['--variant=minbase', SUITE, root, debianMirror()]);
    // as Docker's debian images: no package cache, no lists, an empty /dev (the runtime makes it)
    await run('sh', ['-c', 'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/dev/* "$1"/var/log/*.log "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/etc/hostname "$1"/etc/resolv.conf', 'sh', root]);
    const layout = path.join(work, 'layout');
    await initLayout(layout);
    const tarFile = path.join(work, 'layer.tar');
    await run('tar', ['--sort=name', '--numeric-owner', '--xattrs', '--xattrs-include=security.capability', '--mtime=@1704067200', '-C', root, '-cf', tarFile, '.']);
    const diff = await sha256File(tarFile);
    await run('pigz', ['-n', '-6', tarFile]);
    const blob = await sha256File(`${tarFile}.gz`);
    await rename(`${tarFile}.gz`, path.join(layout, 'blobs/sha256', blob.digest.slice(7)));
    const m = await writeImage(layout, [{ ...blob, diffId: diff.digest }], { cmd: ['bash'], platform: { os: 'linux', architecture: arch() } });
    await writeLayoutIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, tag: SUITE }]);
    await writeFile(path.join(layout, 'made.txt'), `debootstrap --variant=minbase ${SUITE} (${debianMirror()}) in ${Math.round((Date.now() - started) / 1000)}s\n`);
    await rename(layout, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The cached Debian layout (made now, once across processes, when missing): its dir and tag. */
export async function debianLayout(): Promise<{ dir: string; tag: string }> {
  const dir = layoutDir();
  if (!existsSync(path.join(dir, 'index.json'))) {
    await mkdir(path.dirname(dir), { recursive: true });
    await withLockFile(`${dir}.lock`, async () => {
      if (!existsSync(path.join(dir, 'index.json'))) await makeLayout(dir);
    });
  }
  return { dir, tag: SUITE };
}

/** Push the Debian image to a test registry as `target` (e.g. `library/debian:bookworm`). */
export async function pushDebianImage(registry: TestRegistry, target = 'library/debian:bookworm'): Promise<string> {
  const { dir, tag } = await debianLayout();
  await pushBaseImage(registry, dir, target, { tag });
  return `${registry.host}/${target}`;
}

/** Size in bytes of the cached Debian layer (compressed). */
export async function debianLayerSize(): Promise<number> {
  const { dir } = await debianLayout();
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return (await stat(path.join(dir, 'blobs/sha256', manifest.layers[0].digest.slice(7)))).size;
}
