// Issue 12's benchmark: a cold CI run (empty store) with a warm registry cache, end to end through
// the CLI, on the 20,000-file context (bench/data.js) plus two RUN steps, medians of interleaved runs:
//   ocibuild cold, no cache     a fresh store, no --cache-from: the anchor
//   ocibuild cold + cache       a fresh store, --cache-from/--cache-to type=registry,mode=max (warm)
//   buildah cold + cache        a fresh storage root, buildah 1.28 bud --layers --isolation chroot
//                               --storage-driver vfs --cache-from/--cache-to a repository (warm)
// Every run pulls the (busybox) base from the local registry and tags the result in its store.
// Standalone: node bench/cache-bench.js [--runs N] [--json FILE]; from bench/run.js: runCacheBench().
import { option, tableLines } from './common.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './data.js';
import { startRegistry } from './registry-bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '../bin/ocibuild');
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
}

function blob(dir, bytes) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  fs.writeFileSync(path.join(dir, 'blobs/sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** A busybox-static base as an OCI layout (one gzip layer), tagged `latest`. */
export function busyboxLayout(work) {
  const root = path.join(work, 'bb-root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of sh('/bin/busybox', ['--list']).split('\n').filter((x) => x && x !== 'busybox')) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const layout = path.join(work, 'bb-layout');
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tar = path.join(work, 'bb.tar');
  sh('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1704067200', '-C', root, '-cf', tar, '.']);
  const diffId = `sha256:${createHash('sha256').update(fs.readFileSync(tar)).digest('hex')}`;
  const layer = blob(layout, execFileSync('gzip', ['-n', '-6', '-c', tar], { maxBuffer: 64 * 1024 * 1024 }));
  const cfg = blob(layout, Buffer.from(JSON.stringify({ created: '2024-01-01T00:00:00Z', architecture: ARCH, os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created: '2024-01-01T00:00:00Z', created_by: 'busybox-static' }] })));
  const m = blob(layout, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }] })));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return layout;
}

function timed(cmd, args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')} failed: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  return { ms, stderr: r.stderr };
}

/** The cache benchmark; prints a table and returns the results. */
export async function runCacheBench(options = {}) {
  const runs = options.runs ?? 3;
  for (const tool of ['buildah', 'skopeo', 'docker-registry', 'gzip', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench(cache): ${tool} is not installed; skipped`);
      return undefined;
    }
  }
  if (!fs.existsSync('/bin/busybox')) {
    console.error('bench(cache): /bin/busybox (busybox-static) is missing; skipped');
    return undefined;
  }
  const base = options.data ?? os.tmpdir();
  const data = ensureData(base);
  const work = fs.mkdtempSync(path.join(base, 'ocibuild-bench-cache-'));
  const reg = await startRegistry(base);
  const results = { date: new Date().toISOString(), runs, files: 20000, bytes: data.smallBytes, loadAverageAtStart: os.loadavg().map((l) => l.toFixed(1)).join(' '), ms: { cold: [], warm: [], buildah: [] }, errors: {} };
  try {
    const layout = busyboxLayout(work);
    sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/bench/busybox:1`]);
    // The context: the 20,000 files, a Dockerfile with a COPY and two RUN steps over them.
    const ctx = path.join(work, 'ctx');
    fs.mkdirSync(ctx);
    sh('cp', ['-a', data.small, path.join(ctx, 'src')]);
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      `FROM ${reg.host}/bench/busybox:1\nCOPY src/ /src/\nRUN find /src -type f | wc -l > /count.txt && du -s /src > /du.txt\nRUN tar -cf /src.tar /src && rm /src.tar && echo done > /done.txt\n`,
    );
    const env = (dir) => ({ PATH: process.env.PATH, HOME: dir, OCIBUILD_HOME: path.join(dir, 'store'), SOURCE_DATE_EPOCH: '1700000000' });
    const ociCache = `${reg.host}/bench/cache:ocibuild`;
    const buildahCache = `${reg.host}/bench/buildah-cache`;
    const broot = (dir) => ['--storage-driver', 'vfs', '--root', path.join(dir, 'broot'), '--runroot', path.join(dir, 'brun')];
    const commands = {
      cold: (dir) => timed(CLI, ['build', ctx, '-t', 'bench:ci'], env(dir)),
      warm: (dir) => timed(CLI, ['build', ctx, '-t', 'bench:ci', '--explain', '--cache-from', `type=registry,ref=${ociCache}`, '--cache-to', `type=registry,ref=${ociCache},mode=max`], env(dir)),
      buildah: (dir) =>
        timed('buildah', [...broot(dir), 'bud', '--quiet', '--layers', '--isolation', 'chroot', '--tls-verify=false', '--cache-from', buildahCache, '--cache-to', buildahCache, '-t', 'bench:ci', ctx], { ...env(dir), BUILDAH_FORMAT: 'oci' }),
    };
    // Warm the caches: one exporting run of each tool (untimed).
    for (const [name, key] of [['ocibuild', 'warm'], ['buildah', 'buildah']]) {
      const dir = fs.mkdtempSync(path.join(work, `warmup-${name}-`));
      try {
        commands[key](dir);
      } catch (e) {
        results.errors[key] = `warm-up: ${e.message}`;
      } finally {
        spawnSync('rm', ['-rf', dir]);
      }
    }
    for (let i = 0; i < runs; i++) {
      // Interleaved, each on a fresh store or storage root: a new CI runner.
      for (const name of Object.keys(commands)) {
        if (results.errors[name]) continue;
        const dir = fs.mkdtempSync(path.join(work, `${name}-${i}-`));
        try {
          const r = commands[name](dir);
          results.ms[name].push(r.ms);
          if (name === 'warm') {
            const lines = r.stderr.split('\n').filter((l) => / line \d+: /.test(l));
            results.warmAllHit = (results.warmAllHit ?? true) && lines.length > 0 && lines.every((l) => l.includes('CACHED (remote cache'));
          }
        } catch (e) {
          results.errors[name] = e.message;
        } finally {
          spawnSync('rm', ['-rf', dir]);
        }
      }
      console.error(`bench(cache): run ${i + 1}/${runs}: ${Object.entries(results.ms).map(([k, v]) => `${k} ${v[i] !== undefined ? (v[i] / 1000).toFixed(2) + 's' : 'failed'}`).join(', ')}`);
    }
  } finally {
    reg.stop();
    spawnSync('rm', ['-rf', work]);
  }
  const med = Object.fromEntries(Object.entries(results.ms).map(([k, v]) => [k, v.length ? median(v) : undefined]));
  results.medianMs = med;
  const fmt = (ms) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
  const rows = [['row', 'ocibuild cold + cache', 'anchor', 'anchor/ours', 'target', 'met']];
  const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'yes' : 'NO');
  const r1 = med.warm && med.cold ? med.cold / med.warm : undefined;
  const r2 = med.warm && med.buildah ? med.buildah / med.warm : undefined;
  rows.push(['vs cold build without cache', fmt(med.warm), `ocibuild cold, no cache ${fmt(med.cold)}`, r1 ? `${r1.toFixed(2)}x` : 'n/a', '>= 2x', verdict(r1 === undefined ? undefined : r1 >= 2)]);
  rows.push(['vs buildah --cache-from', fmt(med.warm), `buildah cold + cache ${fmt(med.buildah)}`, r2 ? `${r2.toFixed(2)}x` : 'n/a', '>= 1x', verdict(r2 === undefined ? undefined : r2 >= 1)]);
  console.log(`\nRegistry cache (issue 12): cold CI run (empty store) with a warm registry cache, 20,000 files (${(data.smallBytes / 1e6).toFixed(0)} MB) + 2 RUN steps, medians of ${runs} interleaved runs`);
  for (const line of tableLines(rows)) console.log(line);
  if (results.warmAllHit === false) console.log('  WARNING: the cached ocibuild runs did not hit every step');
  for (const [k, e] of Object.entries(results.errors)) console.log(`  ${k} failed: ${e}`);
  results.loadAverageAtEnd = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`load average: ${results.loadAverageAtStart} at start, ${results.loadAverageAtEnd} at the end`);
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-cache.json');
  fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
  console.log(`JSON: ${jsonOut}`);
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (name, def) => option(args, name, def);
  await runCacheBench({ runs: Number(opt('runs', '3')), json: opt('json', undefined), data: opt('data', undefined) });
}
