// Issue 10's benchmark: RUN against buildah on the same Dockerfiles in the same run, medians.
//   cold10   10 trivial RUN steps on the Debian base, step cache empty (base pulled beforehand;
//            ocibuild's unpack of the base counts, buildah's happened at pull): goal >= 4x faster
//   cached10 the same build again in the same store: every step from the cache
//   write50 / write300  one RUN writing one file on a ~50 MB and a ~300 MB base (the base already
//            unpacked by an earlier build, the RUN a cache miss): ocibuild's two must cost the same
//            within noise (snapshot cost does not grow with the base)
//   zstd     reading a zstd layer (the Debian base, recompressed) with ocibuild's layer reader
//            against `zstd -dc | sha256sum`
// buildah: Debian's 1.28, `bud --layers --isolation chroot --storage-driver vfs`, own --root.
// Standalone: node bench/run-bench.js [--runs N] [--json FILE]; from bench/run.js: runRunBench().
import { option, tableLines } from './common.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createCipheriv } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from './registry-bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '../bin/ocibuild');
const CACHE = process.env.OCIBUILD_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'ocibuild-test');
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
// Same recipe and cache as test/debian-image.ts (keep the two in step).
const DEBIAN_LAYOUT = path.join(CACHE, `debian-bookworm-minbase-${ARCH}-v3`);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
}

function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n;
  let size = 0;
  while ((n = fs.readSync(fd, buf, 0, buf.length)) > 0) {
    h.update(buf.subarray(0, n));
    size += n;
  }
  fs.closeSync(fd);
  return { digest: `sha256:${h.digest('hex')}`, size };
}

function debianMirror() {
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d').filter((x) => x.endsWith('.sources'))) {
      const m = /^URIs:\s*(\S+)/m.exec(fs.readFileSync(path.join('/etc/apt/sources.list.d', f), 'utf8'));
      if (m && !/security/.test(m[1])) return m[1];
    }
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(fs.readFileSync('/etc/apt/sources.list', 'utf8'));
    if (m) return m[1];
  } catch {
    // fall through
  }
  return 'http://deb.debian.org/debian';
}

/** An OCI layout with one image of `layers` (tar files, compressed here with pigz) tagged `tag`. */
// The same config, manifest and index.json bytes as test/registry/base-image.ts's writeImage and
// writeLayoutIndex (the Debian layout is cached for both, whichever makes it first). A history entry
// per layer: buildah --layers fails its second RUN on a base without one ("history lists 2 non-empty
// layers, but we have 3 layers on disk").
function writeLayout(dir, layers, tag, cmd = ['sh']) {
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const descs = [];
  const diffIds = [];
  for (const tar of layers) {
    diffIds.push(sha256File(tar).digest);
    sh('pigz', ['-n', '-6', '-f', tar]);
    const b = sha256File(`${tar}.gz`);
    fs.renameSync(`${tar}.gz`, path.join(dir, 'blobs/sha256', b.digest.slice(7)));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.size });
  }
  const blob = (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    fs.writeFileSync(path.join(dir, 'blobs/sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const cfg = blob({
    created: '2024-01-01T00:00:00Z', architecture: ARCH, os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test layer' })),
  });
  const m = blob({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: descs });
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function ensureDebian() {
  if (fs.existsSync(path.join(DEBIAN_LAYOUT, 'index.json'))) return DEBIAN_LAYOUT;
  // The tests' lock (test/debian-image.ts): the pid of the process making the layout.
  const lock = `${DEBIAN_LAYOUT}.lock`;
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const holder = Number(fs.readFileSync(lock, 'utf8').trim());
      if (holder > 0 && !alive(holder)) fs.rmSync(lock, { force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
  }
  try {
    if (fs.existsSync(path.join(DEBIAN_LAYOUT, 'index.json'))) return DEBIAN_LAYOUT;
    return makeDebian();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function makeDebian() {
  console.error('bench: making the Debian base (debootstrap --variant=minbase bookworm; minutes, once)...');
  const work = `${DEBIAN_LAYOUT}.tmp-bench-${process.pid}`;
  fs.rmSync(work, { recursive: true, force: true });
  const root = path.join(work, 'rootfs');
  fs.mkdirSync(root, { recursive: true });
  sh('debootstrap', ['--variant=minbase', 'bookworm', root, debianMirror()], { stdio: ['ignore', 'ignore', 'inherit'] });
  sh('sh', ['-c', 'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/dev/* "$1"/var/log/*.log "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/etc/hostname "$1"/etc/resolv.conf', 'sh', root]);
  const tar = path.join(work, 'layer.tar');
  sh('tar', ['--sort=name', '--numeric-owner', '--xattrs', '--xattrs-include=security.capability', '--mtime=@1704067200', '-C', root, '-cf', tar, '.']);
  writeLayout(path.join(work, 'layout'), [tar], 'bookworm', ['bash']);
  fs.renameSync(path.join(work, 'layout'), DEBIAN_LAYOUT);
  fs.rmSync(work, { recursive: true, force: true });
  return DEBIAN_LAYOUT;
}

/** busybox plus `mb` MB of files (64 KiB each, incompressible, deterministic). */
function ensureSizedBase(base, mb) {
  const dir = path.join(base, `ocibuild-bench-run-base-${mb}mb-v2`);
  if (fs.existsSync(path.join(dir, 'index.json'))) return dir;
  const work = fs.mkdtempSync(path.join(base, 'ocibuild-bench-run-make-'));
  const bb = path.join(work, 'bb');
  for (const d of ['bin', 'etc', 'tmp']) fs.mkdirSync(path.join(bb, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(bb, 'bin/busybox'));
  fs.chmodSync(path.join(bb, 'bin/busybox'), 0o755);
  for (const a of sh('/bin/busybox', ['--list']).split('\n').filter((x) => x && x !== 'busybox')) fs.symlinkSync('busybox', path.join(bb, 'bin', a));
  fs.writeFileSync(path.join(bb, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const data = path.join(work, 'data');
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, mb), Buffer.alloc(16));
  const files = Math.round((mb * 1e6) / 65536);
  for (let i = 0; i < files; i++) {
    const d = path.join(data, 'srv/data', `d${i % 100}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}.bin`), cipher.update(Buffer.alloc(65536)));
  }
  const t1 = path.join(work, 'l1.tar');
  const t2 = path.join(work, 'l2.tar');
  sh('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1704067200', '-C', bb, '-cf', t1, '.']);
  sh('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1704067200', '-C', data, '-cf', t2, '.']);
  writeLayout(path.join(work, 'layout'), [t1, t2], 'latest');
  fs.renameSync(path.join(work, 'layout'), dir);
  fs.rmSync(work, { recursive: true, force: true });
  return dir;
}

function timed(cmd, args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    const err = new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
    err.stderr = r.stderr;
    throw err;
  }
  return ms;
}

/** One tool's environment: a fresh store (ocibuild) or storage root (buildah) under `dir`. */
function tools(dir, host) {
  const store = path.join(dir, 'store');
  const env = { PATH: process.env.PATH, HOME: dir, OCIBUILD_HOME: store };
  const broot = ['--storage-driver', 'vfs', '--root', path.join(dir, 'broot'), '--runroot', path.join(dir, 'brun')];
  return {
    ocibuild: {
      pull: (ref) => timed(CLI, ['pull', ref], env),
      build: (ctx) => timed(CLI, ['build', ctx, '-t', 'bench:latest'], env),
    },
    buildah: {
      pull: (ref) => timed('buildah', [...broot, 'pull', '--quiet', '--tls-verify=false', ref], env),
      build: (ctx) => timed('buildah', [...broot, 'bud', '--quiet', '--layers', '--isolation', 'chroot', '--tls-verify=false', '-t', 'bench:latest', ctx], { ...env, BUILDAH_FORMAT: 'oci' }),
    },
    host,
  };
}

function context(dir, dockerfile) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

/**
 * Runs `fn(tool)` for both tools interleaved, `runs` times; failures are recorded once per tool, not
 * retried. A `sync` before each (untimed) flushes what the previous command left to write back (buildah's
 * vfs copies the whole base per layer: 300 MB of dirty pages that otherwise slowed the next timed
 * command, whichever tool it was).
 */
function interleaved(runs, fn) {
  const out = { ocibuild: [], buildah: [], errors: {} };
  for (let i = 0; i < runs; i++) {
    for (const tool of ['ocibuild', 'buildah']) {
      if (out.errors[tool]) continue;
      spawnSync('sync');
      try {
        out[tool].push(fn(tool, i));
      } catch (e) {
        out.errors[tool] = e.message;
      }
    }
  }
  return out;
}

/** zstd read throughput: ocibuild's readLayer over the Debian layer recompressed with zstd -3, vs zstd -dc | sha256sum. */
async function zstdBench(work, runs) {
  const { listLayer } = await import('../dist/layers/index.js');
  const index = JSON.parse(fs.readFileSync(path.join(DEBIAN_LAYOUT, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(path.join(DEBIAN_LAYOUT, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const gz = path.join(DEBIAN_LAYOUT, 'blobs/sha256', manifest.layers[0].digest.slice(7));
  const zst = path.join(work, 'layer.tar.zst');
  sh('sh', ['-c', 'pigz -dc "$1" | zstd -q -3 -o "$2"', 'sh', gz, zst]);
  const tarBytes = Number(sh('sh', ['-c', 'zstd -dc "$1" | wc -c', 'sh', zst]).trim());
  const ours = [];
  const cli = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await listLayer(fs.createReadStream(zst));
    ours.push(Number(process.hrtime.bigint() - t0) / 1e6);
    cli.push(timed('sh', ['-c', 'zstd -dc "$1" | sha256sum >/dev/null', 'sh', zst]));
  }
  return { tarBytes, zstdBytes: fs.statSync(zst).size, medianMs: { ocibuild: median(ours), zstdCli: median(cli) } };
}

/** The RUN benchmark; prints a table and returns the results. */
export async function runRunBench(options = {}) {
  const runs = options.runs ?? 3;
  for (const tool of ['buildah', 'skopeo', 'debootstrap', 'pigz', 'zstd', 'docker-registry']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench(run): ${tool} is not installed; skipped`);
      return undefined;
    }
  }
  if (process.getuid?.() !== 0) console.error('bench(run): not root; buildah with vfs and debootstrap may fail');
  const base = options.data ?? os.tmpdir();
  const debian = ensureDebian();
  const b50 = ensureSizedBase(base, 50);
  const b300 = ensureSizedBase(base, 300);
  const work = fs.mkdtempSync(path.join(base, 'ocibuild-bench-run-'));
  const reg = await startRegistry(base);
  const results = { date: new Date().toISOString(), runs, loadAverageAtStart: os.loadavg().map((l) => l.toFixed(1)).join(' '), scenarios: {} };
  try {
    const push = (layout, tag, name) => {
      sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${reg.host}/${name}`]);
      return `${reg.host}/${name}`;
    };
    const refs = { debian: push(debian, 'bookworm', 'bench/debian:bookworm'), b50: push(b50, 'latest', 'bench/base50:1'), b300: push(b300, 'latest', 'bench/base300:1') };
    const ten = (i) => `FROM ${refs.debian}\n${Array.from({ length: 10 }, (_, k) => `RUN echo step-${k}-run-${i} > /step-${k}`).join('\n')}\n`;

    const want = (name) => !options.only || options.only.includes(name);
    // cold10 and cached10: a fresh store / storage root per run, base pulled untimed first.
    const cold = !want('cold10') ? { ocibuild: [], buildah: [], errors: {} } : interleaved(runs, (tool, i) => {
      const dir = fs.mkdtempSync(path.join(work, `${tool}-cold-`));
      try {
        const t = tools(dir, reg.host)[tool];
        t.pull(refs.debian);
        const ctx = context(path.join(dir, 'ctx'), ten(i));
        const coldMs = t.build(ctx);
        const cachedMs = t.build(ctx);
        return { coldMs, cachedMs };
      } finally {
        spawnSync('rm', ['-rf', dir]);
      }
    });
    const pick = (r, k) => ({ ocibuild: r.ocibuild.map((x) => x[k]), buildah: r.buildah.map((x) => x[k]), errors: r.errors });
    if (want('cold10')) {
      results.scenarios.cold10 = pick(cold, 'coldMs');
      results.scenarios.cached10 = pick(cold, 'cachedMs');
    }

    // write50 / write300: one store per tool and base; a warm-up RUN unpacks the base; then timed misses.
    for (const [name, ref] of [['write50', refs.b50], ['write300', refs.b300]].filter(([n]) => want(n))) {
      const dirs = {};
      results.scenarios[name] = interleaved(runs, (tool, i) => {
        if (!dirs[tool]) {
          dirs[tool] = fs.mkdtempSync(path.join(work, `${tool}-${name}-`));
          const t = tools(dirs[tool], reg.host)[tool];
          t.pull(ref);
          t.build(context(path.join(dirs[tool], 'warm'), `FROM ${ref}\nRUN echo warm > /warm\n`));
        }
        return tools(dirs[tool], reg.host)[tool].build(context(path.join(dirs[tool], `ctx${i}`), `FROM ${ref}\nRUN echo ${name}-${i} > /one-file\n`));
      });
      for (const d of Object.values(dirs)) spawnSync('rm', ['-rf', d]);
    }
    if (want('zstd')) try {
      results.zstd = await zstdBench(work, runs);
    } catch (e) {
      results.zstdError = e.message;
    }
  } finally {
    reg.stop();
    spawnSync('rm', ['-rf', work]);
  }

  const med = (s, tool) => (results.scenarios[s]?.[tool]?.length ? median(results.scenarios[s][tool]) : undefined);
  const fmt = (ms) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
  const rows = [['scenario', 'ocibuild', 'buildah', 'buildah/ocibuild', 'target', 'met']];
  const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'yes' : 'NO');
  for (const s of ['cold10', 'cached10', 'write50', 'write300'].filter((x) => results.scenarios[x])) {
    const [o, b] = [med(s, 'ocibuild'), med(s, 'buildah')];
    const ratio = o && b ? b / o : undefined;
    const target = s === 'cold10' ? '>= 4x' : s === 'cached10' ? '>= 1x' : 'write300 ~ write50';
    const ok = ratio === undefined ? undefined : s === 'cold10' ? ratio >= 4 : s === 'cached10' ? ratio >= 1 : undefined;
    rows.push([s, fmt(o), fmt(b), ratio ? `${ratio.toFixed(2)}x` : 'n/a', target, verdict(ok)]);
    results.scenarios[s].medianMs = { ocibuild: o, buildah: b };
  }
  const [w50, w300] = [med('write50', 'ocibuild'), med('write300', 'ocibuild')];
  const sameCost = w50 && w300 ? w300 / w50 : undefined;
  // "within noise": the spread of the write50 runs themselves, at least 25%
  const spread = results.scenarios.write50?.ocibuild.length ? Math.max(0.25, (Math.max(...results.scenarios.write50.ocibuild) - Math.min(...results.scenarios.write50.ocibuild)) / w50) : undefined;
  rows.push(['write300/write50 (ocibuild)', sameCost ? `${sameCost.toFixed(2)}x` : 'n/a', '', '', `1x +- ${spread ? (spread * 100).toFixed(0) : '?'}%`, verdict(sameCost && spread ? Math.abs(sameCost - 1) <= spread : undefined)]);
  console.log('\nRUN (issue 10): medians of', runs, 'interleaved runs, same Dockerfiles, buildah 1.28 bud --layers --isolation chroot --storage-driver vfs');
  for (const line of tableLines(rows)) console.log(line);
  for (const [s, r] of Object.entries(results.scenarios)) for (const [tool, e] of Object.entries(r.errors)) console.log(`  ${s}: ${tool} failed: ${e}`);
  const z = results.zstd;
  if (results.zstdError) console.log(`zstd layer read: failed: ${results.zstdError}`);
  if (z) console.log(`zstd layer read (${(z.tarBytes / 1e6).toFixed(0)} MB tar, ${(z.zstdBytes / 1e6).toFixed(0)} MB zstd): ocibuild readLayer ${fmt(z.medianMs.ocibuild)} (${(z.tarBytes / 1e6 / (z.medianMs.ocibuild / 1000)).toFixed(0)} MB/s), zstd -dc | sha256sum ${fmt(z.medianMs.zstdCli)}`);
  results.loadAverageAtEnd = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`load average: ${results.loadAverageAtStart} at start, ${results.loadAverageAtEnd} at the end`);
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-run.json');
  fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
  console.log(`JSON: ${jsonOut}`);
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (name, def) => option(args, name, def);
  // --only write50,write300 (exploring): just those scenarios (cold10 also gives cached10; zstd).
  await runRunBench({ runs: Number(opt('runs', '3')), json: opt('json', undefined), data: opt('data', undefined), only: opt('only', undefined)?.split(',') });
}
