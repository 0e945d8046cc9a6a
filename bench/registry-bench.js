// Registry benchmark (issues 4 and 8): push and pull, end to end through the
// CLI (`ocibuild push` from a store, `ocibuild pull` into an empty store), of
// the two images of the layer benchmark, against `skopeo copy` of the same
// image in the same run, to a local registry (Debian's docker-registry on
// 127.0.0.1, plain HTTP, no auth). Medians of N runs; target 1.0x skopeo.
//
//   small: FROM scratch + COPY of the 20,000-file context (108 MB tar, one 43 MB gzip layer)
//   big:   FROM scratch + COPY of the 4 x 100 MiB context (419 MB tar, one 213 MB gzip layer)
//
// Standalone: node bench/registry-bench.js [--runs N] [--data DIR] [--json FILE] [--images small,big]
// From bench/run.js: import { runRegistryBench } from './registry-bench.js'.
//
// The images are built once with `ocibuild build` into a store under the data
// dir and reused; skopeo reads the very same blobs (the store is an OCI layout,
// `oci:STORE:bench/small:latest`). Every push goes to a fresh registry (new
// port: nothing to deduplicate or mount, and skopeo's blob-info cache knows
// nothing about it), every pull into an empty directory. Ours and skopeo's
// commands alternate within each run so load changes hit both alike; page
// caches are dropped before each command when possible. `ocibuild --version`
// is timed in the same run to show how much of a command is CLI start-up, and
// so is the library path alone: a small Node script (this file with --child)
// importing only dist/push, dist/registry and dist/cache (no CLI), which pays
// Node's start-up but not the CLI's. For the small image, each run also times
// `node -e 0` (caches dropped, as before every command) and runs one more
// untimed push and pull with bench/phase-hook.cjs preloaded, which notes when
// the first connection opened and when the command exited: that transfer
// phase plus `node -e 0` is the command's floor on this Node (what it would
// take if the CLI did nothing of its own before its first request). When the
// environment sets NODE_EXTRA_CA_CERTS (Node 20 parses that file before V8
// starts, ~40 ms here) and not NODE_OPTIONS, bin/ocibuild starts node without
// it (and gives the file to its TLS clients itself), so the floor takes the
// `node -e 0` of an environment without the variable; the one with it is
// printed beside (the floor of a CLI that let Node load it). Each run also
// pushes and pulls each image once more, untimed, under /usr/bin/time -f %M:
// the peak RSS of our push and pull (the highest of the runs), against 200 MB.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureData } from './data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../bin/ocibuild');
const CLI = path.join(here, '../dist/cli/main.js');
const MB = 1024 * 1024;
const STORE_VERSION = 'v2';

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MB, ...opts });
}

/**
 * The bench store with both images built by `ocibuild build` (made once and
 * reused). Returns { store, images: { small: { tag, digest, bytes }, ... } }.
 */
function ensureImages(base, names) {
  const store = path.join(base, `ocibuild-bench-registry-store-${STORE_VERSION}`);
  const marker = path.join(store, 'bench-images.json');
  const known = fs.existsSync(marker) ? JSON.parse(fs.readFileSync(marker, 'utf8')) : {};
  const missing = names.filter((n) => !known[n]);
  if (missing.length) {
    const data = ensureData(base);
    const dockerfile = path.join(base, `ocibuild-bench-registry-${process.pid}.Dockerfile`);
    fs.writeFileSync(dockerfile, 'FROM scratch\nCOPY . /\n');
    try {
      for (const n of missing) {
        const tag = `bench/${n}:latest`;
        const digest = sh(BIN, ['build', '-q', '-f', dockerfile, '-t', tag, '--store', store, data[n]]).toString().trim().split('\n').pop();
        const idx = JSON.parse(fs.readFileSync(path.join(store, 'index.json'), 'utf8'));
        const entry = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
        const manifest = JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', entry.digest.slice(7)), 'utf8'));
        const bytes = [manifest.config, ...manifest.layers].reduce((s, d) => s + d.size, entry.size);
        known[n] = { tag, digest: entry.digest, bytes, layers: manifest.layers.length, built: digest };
      }
    } finally {
      fs.rmSync(dockerfile, { force: true });
    }
    fs.writeFileSync(marker, JSON.stringify(known, null, 2));
  }
  return { store, images: known };
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

const TARGET = 1.0;

/**
 * Run the registry benchmark. Options: runs (default 3), data (dir for the
 * data sets and the bench store; default tmpdir), images (default
 * ['small', 'big']), json (result file; default
 * <tmpdir>/ocibuild-bench-registry.json), log (line printer; default console.log).
 * Returns the results object that is also written as JSON.
 */
export async function runRegistryBench(options = {}) {
  const runs = options.runs ?? 3;
  const base = options.data ?? os.tmpdir();
  const names = options.images ?? ['small', 'big'];
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-registry.json');
  const log = options.log ?? ((l) => console.log(l));
  if (!fs.existsSync(CLI)) throw new Error('bench: dist/cli/main.js is missing; run `npm run build` first');
  for (const tool of ['docker-registry', 'skopeo']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench: ${tool} is not installed`);
  }
  log('registry bench: preparing the images (built once with ocibuild build, then reused)...');
  const { store, images } = ensureImages(base, names);
  const times = { version: [], nodeE0: [], nodeE0NoExtraCa: [] };
  const phases = { push: [], pull: [] };
  const phaseFile = path.join(base, `ocibuild-bench-phases-${process.pid}.jsonl`);
  const extraCa = process.env.NODE_EXTRA_CA_CERTS !== undefined && process.env.NODE_EXTRA_CA_CERTS !== '';
  /** bin/ocibuild keeps the variable from Node's start (see its first lines) only when NODE_OPTIONS is unset. */
  const launcherDefers = extraCa && !process.env.NODE_OPTIONS;
  /** One untimed command with the phase hook: its transfer phase (first connection to exit), ms. */
  const transferPhase = (args) => {
    fs.rmSync(phaseFile, { force: true });
    dropCaches();
    const r = spawnSync('node', ['-r', path.join(here, 'phase-hook.cjs'), BIN, ...args], { env: { ...process.env, OCIBUILD_BENCH_PHASES: phaseFile }, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`bench: ocibuild ${args[0]} with the phase hook failed`);
    const p = JSON.parse(fs.readFileSync(phaseFile, 'utf8'));
    return p.exit - p.firstConnect;
  };
  for (const n of names) for (const k of ['ocibuildPush', 'skopeoPush', 'ocibuildPull', 'skopeoPull', 'libraryPush', 'libraryPull']) times[`${n}.${k}`] = [];
  /** Peak RSS (MB) of our push and pull of each image, from one more untimed push and pull per run under /usr/bin/time -f %M (issue 8: 200 MB for any build, pull or push). */
  const rss = Object.fromEntries(names.map((n) => [n, { push: [], pull: [] }]));
  const hasTime = fs.existsSync('/usr/bin/time');
  const rssFile = path.join(base, `ocibuild-bench-rss-${process.pid}`);
  const peakMb = (args) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, BIN, ...args], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`bench: ocibuild ${args[0]} under /usr/bin/time failed`);
    const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
    fs.rmSync(rssFile, { force: true });
    return kb / 1024;
  };
  const self = fileURLToPath(import.meta.url);
  let cold = true;
  let digestsOk = true;
  for (let i = 0; i < runs; i++) {
    times.version.push(timed(BIN, ['--version']).ms);
    dropCaches();
    times.nodeE0.push(timed('node', ['-e', '0']).ms);
    if (extraCa) {
      dropCaches();
      times.nodeE0NoExtraCa.push(timed('env', ['-u', 'NODE_EXTRA_CA_CERTS', 'node', '-e', '0']).ms);
    }
    if (names.includes('small')) {
      const registry = await startRegistry(base);
      const dest = fs.mkdtempSync(path.join(base, 'ocibuild-bench-pull-'));
      try {
        const ref = `${registry.host}/bench/small:latest`;
        phases.push.push(transferPhase(['push', '--store', store, images.small.tag, ref]));
        phases.pull.push(transferPhase(['pull', '-q', '--store', path.join(dest, 'store'), ref]));
      } finally {
        registry.stop();
        fs.rmSync(dest, { recursive: true, force: true });
        fs.rmSync(phaseFile, { force: true });
      }
    }
    for (const n of names) {
      const img = images[n];
      if (hasTime) {
        const registry = await startRegistry(base);
        const dest = fs.mkdtempSync(path.join(base, 'ocibuild-bench-pull-'));
        try {
          const ref = `${registry.host}/bench/${n}:latest`;
          dropCaches();
          rss[n].push.push(peakMb(['push', '--store', store, img.tag, ref]));
          dropCaches();
          rss[n].pull.push(peakMb(['pull', '-q', '--store', path.join(dest, 'store'), ref]));
        } finally {
          registry.stop();
          fs.rmSync(dest, { recursive: true, force: true });
        }
      }
      const order = i % 2 === 0 ? ['ours', 'skopeo', 'library'] : ['skopeo', 'library', 'ours'];
      for (const who of order) {
        // A fresh registry (new port) for every push + pull.
        const registry = await startRegistry(base);
        const dest = fs.mkdtempSync(path.join(base, 'ocibuild-bench-pull-'));
        try {
          const ref = `${registry.host}/bench/${n}:latest`;
          cold = dropCaches() && cold;
          if (who === 'ours') {
            const r = timed(BIN, ['push', '--store', store, img.tag, ref]);
            times[`${n}.ocibuildPush`].push(r.ms);
            digestsOk &&= r.stdout.trim() === img.digest;
          } else if (who === 'library') {
            const r = timed('node', [self, '--child', 'push', store, img.tag, ref]);
            times[`${n}.libraryPush`].push(r.ms);
            digestsOk &&= r.stdout.trim() === img.digest;
          } else {
            times[`${n}.skopeoPush`].push(timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${store}:${img.tag}`, `docker://${ref}`]).ms);
          }
          cold = dropCaches() && cold;
          if (who === 'ours') {
            const r = timed(BIN, ['pull', '-q', '--store', path.join(dest, 'store'), ref]);
            times[`${n}.ocibuildPull`].push(r.ms);
            digestsOk &&= r.stdout.trim() === img.digest;
          } else if (who === 'library') {
            const r = timed('node', [self, '--child', 'pull', path.join(dest, 'store'), ref]);
            times[`${n}.libraryPull`].push(r.ms);
            digestsOk &&= r.stdout.trim() === img.digest;
          } else {
            times[`${n}.skopeoPull`].push(timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}/layout:latest`]).ms);
          }
        } finally {
          registry.stop();
          fs.rmSync(dest, { recursive: true, force: true });
        }
      }
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const rows = [];
  for (const n of names) {
    for (const op of ['push', 'pull']) {
      const Op = op[0].toUpperCase() + op.slice(1);
      const ours = med[`${n}.ocibuild${Op}`];
      const theirs = med[`${n}.skopeo${Op}`];
      const lib = med[`${n}.library${Op}`];
      const peak = hasTime ? Math.max(...rss[n][op]) : undefined;
      const row = { image: n, op, imageMB: images[n].bytes / 1e6, ocibuildMs: ours, skopeoMs: theirs, ratio: ours / theirs, target: TARGET, met: ours / theirs <= TARGET, libraryMs: lib, libraryRatio: lib / theirs, peakRssMb: peak, peakRssMet: peak === undefined ? undefined : peak <= 200 };
      if (n === 'small') {
        const transfer = median(phases[op]);
        const start = launcherDefers ? med.nodeE0NoExtraCa : med.nodeE0;
        row.floor = { nodeE0Ms: start, transferMs: transfer, ms: start + transfer, ratio: (start + transfer) / theirs, withoutExtraCa: launcherDefers };
        if (launcherDefers) row.floor.nodeLoadingExtraCa = { nodeE0Ms: med.nodeE0, ms: med.nodeE0 + transfer, ratio: (med.nodeE0 + transfer) / theirs };
      }
      rows.push(row);
    }
  }
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const result = { runs, cachesDropped: cold, digestsOk, peakRssMb: rss, loadAverageAtEnd: load, versionMs: med.version, nodeExtraCaCerts: extraCa, rows, images, medianMs: med, times, transferPhasesMs: phases };
  log(
    `registry bench: ${runs} runs, medians, through the CLI (${cold ? 'page cache dropped before each command' : 'warm: could not drop page caches'}); ` +
      `\`ocibuild --version\` ${(med.version / 1000).toFixed(2)} s in the same runs:`,
  );
  for (const r of rows) {
    log(
      `  ${r.op} ${r.image.padEnd(5)} (${r.imageMB.toFixed(0)} MB)  ocibuild ${(r.ocibuildMs / 1000).toFixed(2)} s  anchor skopeo copy ${(r.skopeoMs / 1000).toFixed(2)} s  ` +
        `ratio ${r.ratio.toFixed(2)}x  target ${TARGET.toFixed(1)}x: ${r.met ? 'met' : 'NOT met'}  (library path without the CLI ${(r.libraryMs / 1000).toFixed(2)} s = ${r.libraryRatio.toFixed(2)}x)` +
        `${r.peakRssMb !== undefined ? `; peak RSS ${r.peakRssMb.toFixed(0)} MB (highest of ${runs}), goal 200 MB: ${r.peakRssMet ? 'met' : 'NOT met'}` : ''}`,
    );
    if (r.floor) {
      const f = r.floor;
      const loading = f.nodeLoadingExtraCa
        ? `; a node that loads NODE_EXTRA_CA_CERTS at start takes ${(f.nodeLoadingExtraCa.nodeE0Ms / 1000).toFixed(3)} s: floor ${f.nodeLoadingExtraCa.ratio.toFixed(2)}x`
        : '';
      log(
        `    floor on this Node: node -e 0 ${(f.nodeE0Ms / 1000).toFixed(3)} s${f.withoutExtraCa ? ' (as bin/ocibuild starts it: without NODE_EXTRA_CA_CERTS)' : ''} + our transfer phase (first connection to exit) ${(f.transferMs / 1000).toFixed(3)} s ` +
          `= ${(f.ms / 1000).toFixed(3)} s = ${f.ratio.toFixed(2)}x skopeo${loading}`,
      );
    }
  }
  log(`  digests ${digestsOk ? 'equal to the built image' : 'DIFFER'}; load average at the end ${load}; JSON: ${jsonOut}`);
  fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
  return result;
}

/** The library path without the CLI: push from the store, or pull into a new store. */
async function child(mode, ...args) {
  const dist = (f) => pathToFileURL(path.join(here, '../dist', f)).href;
  const { Store } = await import(dist('cache/store.js'));
  if (mode === 'push') {
    const [storeDir, tag, ref] = args;
    const { push } = await import(dist('push/index.js'));
    const store = await Store.open(storeDir);
    const descriptor = await store.resolve(tag);
    const r = await push({ source: store, descriptor }, ref);
    process.stdout.write(`${r.digest}\n`);
  } else {
    const [storeDir, ref] = args;
    const { pull } = await import(dist('registry/index.js'));
    const store = await Store.open(storeDir);
    const r = await pull(ref, { sink: store });
    process.stdout.write(`${r.descriptor.digest}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  child(...process.argv.slice(3)).catch((e) => {
    console.error(e?.message ?? e);
    process.exit(1);
  });
} else if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  runRegistryBench({ runs: opt('runs') ? Number(opt('runs')) : undefined, data: opt('data'), json: opt('json'), images: opt('images')?.split(',') }).catch((e) => {
    console.error(e?.message ?? e);
    process.exit(1);
  });
}
