// Registry benchmark of issue 4: push and pull of a 400 MB image to a local
// registry (Debian's docker-registry on 127.0.0.1, plain HTTP, no auth), as a
// ratio to `skopeo copy` of the same image in the same run (medians of N runs).
//
// Standalone: node bench/registry-bench.js [--runs N] [--data DIR] [--json FILE]
// (OCIBUILD_BENCH_CHUNK_MB=N sets our upload chunk size, to compare settings.)
// From bench/run.js: import { runRegistryBench } from './registry-bench.js'.
//
// Each measured command runs in a fresh process (ours: this file with
// --child push|pull, importing the compiled library from ../dist), so both
// sides pay their start-up. Every push goes to a new repository (all bytes
// are sent; the registry only deduplicates storage), every pull into an
// empty directory (ours: a fresh ocibuild store; skopeo: a fresh OCI layout).
// The commands alternate within each run so load changes hit both alike.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(here, '../dist/registry/index.js');
const STORE = path.join(here, '../dist/cache/store.js');
const PUSH = path.join(here, '../dist/push/index.js');
const MB = 1024 * 1024;
const LAYERS = [160, 120, 80, 40]; // MiB of random data per layer: 400 MiB in all

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MB, ...opts });
}

function fileDigest(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MB);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return `sha256:${h.digest('hex')}`;
}

function writeBlob(dir, data) {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  fs.writeFileSync(path.join(dir, 'blobs/sha256', digest.slice(7)), data);
  return { digest, size: Buffer.byteLength(data) };
}

/** The 400 MB image as an OCI layout (gzip layers of random data), made once and reused. */
function ensureImage(base) {
  const dir = path.join(base, 'ocibuild-bench-registry-v1');
  if (fs.existsSync(path.join(dir, 'index.json'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  for (const [i, mib] of LAYERS.entries()) {
    const work = path.join(tmp, `work${i}`);
    fs.mkdirSync(work);
    sh('sh', ['-c', `head -c ${mib * MB} /dev/urandom > "$1"`, 'sh', path.join(work, `data-${i}.bin`)]);
    const tar = path.join(tmp, `layer${i}.tar`);
    sh('tar', ['--sort=name', '--mtime=@1704067200', '--owner=0', '--group=0', '--numeric-owner', '-C', work, '-cf', tar, '.']);
    fs.rmSync(work, { recursive: true });
    const diffId = fileDigest(tar);
    sh('sh', ['-c', 'pigz -n -1 -c "$1" > "$1.gz" || gzip -n -1 -c "$1" > "$1.gz"', 'sh', tar]);
    fs.rmSync(tar);
    const gz = `${tar}.gz`;
    const digest = fileDigest(gz);
    const size = fs.statSync(gz).size;
    fs.renameSync(gz, path.join(tmp, 'blobs/sha256', digest.slice(7)));
    layers.push({ digest, size, diffId });
  }
  const config = writeBlob(
    tmp,
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifest = writeBlob(
    tmp,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  fs.writeFileSync(
    path.join(tmp, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  fs.renameSync(tmp, dir);
  return dir;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startRegistry(base) {
  const dir = fs.mkdtempSync(path.join(base, 'ocibuild-bench-registry-'));
  const host = `127.0.0.1:${await freePort()}`;
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'storage')}`,
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${host}`,
      `  secret: ${randomUUID()}`,
      '',
    ].join('\n'),
  );
  const proc = spawn('docker-registry', ['serve', config], { env: { PATH: process.env.PATH }, stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port: Number(host.split(':')[1]) }, () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('bench: docker-registry did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    stop() {
      proc.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MB });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function dropCaches() {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/**
 * Run the registry benchmark. Options: runs (default 3), data (dir for the
 * cached image; default tmpdir), json (result file; default
 * <tmpdir>/ocibuild-bench-registry.json), log (line printer; default console.log).
 * Returns the results object that is also written as JSON.
 */
export async function runRegistryBench(options = {}) {
  const runs = options.runs ?? 3;
  const base = options.data ?? os.tmpdir();
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-registry.json');
  const log = options.log ?? ((l) => console.log(l));
  if (!fs.existsSync(DIST)) throw new Error('bench: dist/registry/index.js is missing; run `npm run build` first');
  for (const tool of ['docker-registry', 'skopeo', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench: ${tool} is not installed`);
  }
  log('registry bench: preparing the 400 MB image (cached after the first run)...');
  const layout = ensureImage(base);
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifestDigest = index.manifests[0].digest;
  const self = fileURLToPath(import.meta.url);
  const times = { ocibuildPush: [], skopeoPush: [], ocibuildPull: [], skopeoPull: [] };
  let cold = true;
  let digestsOk = true;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['ours', 'skopeo'] : ['skopeo', 'ours'];
    for (const who of order) {
      // A fresh registry (new port) for every push + pull: nothing to deduplicate or mount,
      // and skopeo's blob-info cache knows nothing about it.
      const registry = await startRegistry(base);
      const dest = fs.mkdtempSync(path.join(base, 'ocibuild-bench-pull-'));
      try {
        const ref = `${registry.host}/bench/image:latest`;
        cold = dropCaches() && cold;
        if (who === 'ours') {
          const r = timed('node', [self, '--child', 'push', layout, ref]);
          times.ocibuildPush.push(r.ms);
          digestsOk &&= r.stdout.trim() === manifestDigest;
        } else {
          times.skopeoPush.push(timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${ref}`]).ms);
        }
        cold = dropCaches() && cold;
        if (who === 'ours') {
          const r = timed('node', [self, '--child', 'pull', ref, dest]);
          times.ocibuildPull.push(r.ms);
          digestsOk &&= r.stdout.trim() === manifestDigest;
        } else {
          times.skopeoPull.push(timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}:latest`]).ms);
        }
      } finally {
        registry.stop();
        fs.rmSync(dest, { recursive: true, force: true });
      }
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const sizeMB = fs.readdirSync(path.join(layout, 'blobs/sha256')).reduce((n, f) => n + fs.statSync(path.join(layout, 'blobs/sha256', f)).size, 0) / MB;
  const result = {
    runs,
    imageMB: Math.round(sizeMB),
    cachesDropped: cold,
    digestsOk,
    medianMs: med,
    ratio: { push: med.ocibuildPush / med.skopeoPush, pull: med.ocibuildPull / med.skopeoPull },
    times,
  };
  const row = (name, ours, theirs) =>
    `  ${name.padEnd(5)} ocibuild ${(ours / 1000).toFixed(2)} s  skopeo ${(theirs / 1000).toFixed(2)} s  ratio ${(ours / theirs).toFixed(2)}x  (${((sizeMB / ours) * 1000).toFixed(0)} MB/s)`;
  log(`registry bench: ${result.imageMB} MB image, ${runs} runs, medians (${cold ? 'page cache dropped before each command' : 'warm: could not drop page caches'}):`);
  log(row('push', med.ocibuildPush, med.skopeoPush));
  log(row('pull', med.ocibuildPull, med.skopeoPull));
  log(`  digests ${digestsOk ? 'equal to the source image' : 'DIFFER'}; JSON: ${jsonOut}`);
  fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
  return result;
}

async function child(mode, a, b) {
  const lib = await import(pathToFileURL(DIST).href);
  if (mode === 'push') {
    const chunk = process.env.OCIBUILD_BENCH_CHUNK_MB ? Number(process.env.OCIBUILD_BENCH_CHUNK_MB) * MB : undefined;
    const { push } = await import(pathToFileURL(PUSH).href);
    const r = await push(`${a}:latest`, b, chunk ? { chunkSize: chunk } : {});
    process.stdout.write(`${r.digest}\n`);
  } else {
    const { Store } = await import(pathToFileURL(STORE).href);
    const store = await Store.open(b);
    const r = await lib.pull(a, { sink: store });
    process.stdout.write(`${r.descriptor.digest}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const main = args[0] === '--child' ? child(args[1], args[2], args[3]) : runRegistryBench({ runs: opt('runs') ? Number(opt('runs')) : undefined, data: opt('data'), json: opt('json') });
  main.catch((e) => {
    console.error(e?.message ?? e);
    process.exit(1);
  });
}
