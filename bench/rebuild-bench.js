// Rebuild and memory benchmark of issue 8, end to end through the CLI
// (`bin/ocibuild build` as a command, start-up included), on bench/data.js's 20,000-file set:
//  - warm rebuild, nothing changed: against the 0.5 s goal and buildah's same rebuild
//    (`buildah bud --layers --isolation chroot --storage-driver vfs`, its own --root in a tmp dir);
//  - one file changed: against the cold COPY of that layer through the CLI (an empty store);
//  - peak RSS (/usr/bin/time -f %M) of a cold build of the 20,000 files, of 100,000 small files
//    and of the 4 x 100 MiB files, against 200 MB (push and pull: bench/registry-bench.js).
// Page caches stay warm (a rebuild is what a developer runs again at once). Medians of N runs,
// the commands interleaved within each run.
//
// Standalone: node bench/rebuild-bench.js [--runs N] [--data DIR] [--json FILE]
// From bench/run.js: import { runRebuildBench } from './rebuild-bench.js'.
import { option, tableLines } from './common.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../bin/ocibuild');
const MB = 1024 * 1024;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs a command under /usr/bin/time: wall ms, peak RSS in KB, stdout. */
function measured(cmd, argv, opts = {}) {
  // Untimed: the dirty pages the previous command left (buildah's vfs copies whole layers) are
  // written back now, not during this command (as bench/run-bench.js does).
  spawnSync('sync');
  const out = path.join(os.tmpdir(), `ocibuild-rebuild-time-${process.pid}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, cmd, ...argv], { encoding: 'utf8', maxBuffer: 64 * MB, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rssKb = Number(fs.readFileSync(out, 'utf8').trim().split('\n').at(-1));
  fs.rmSync(out, { force: true });
  return { ms, rssKb, stdout: r.stdout };
}

/** 100,000 files of 10-200 bytes in 1,000 directories (made once, reused from `base`). */
function ensureManySmall(base) {
  const root = path.join(base, 'ocibuild-bench-data-100k-v1');
  const marker = path.join(root, 'READY');
  if (fs.existsSync(marker)) return path.join(root, 'files');
  fs.rmSync(root, { recursive: true, force: true });
  const dir = path.join(root, 'files');
  for (let d = 0; d < 1000; d++) {
    const sub = path.join(dir, `d${String(d).padStart(4, '0')}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const name = path.join(sub, `f${String(f).padStart(3, '0')}.txt`);
      fs.writeFileSync(name, `file ${d}/${f}\n`.repeat(1 + ((d * 7 + f) % 20)));
      fs.utimesSync(name, 1700000000, 1700000000);
    }
  }
  fs.writeFileSync(marker, '');
  return dir;
}

function row(what, ours, anchorText, ratio, target, met) {
  return { what, ours, anchor: anchorText, ratio, target, met };
}

/**
 * @param {{ runs?: number, data?: string, json?: string }} options
 */
export async function runRebuildBench(options = {}) {
  const runs = options.runs ?? 3;
  const dataBase = options.data ?? os.tmpdir();
  const jsonOut = options.json ?? path.join(os.tmpdir(), 'ocibuild-bench-rebuild.json');
  if (!fs.existsSync(path.join(here, '../dist/cli/main.js'))) throw new Error('rebuild bench: dist/ is missing; run `npm run build` first');
  if (!fs.existsSync('/usr/bin/time')) throw new Error('rebuild bench: /usr/bin/time is not installed');
  const hasBuildah = spawnSync('sh', ['-c', 'command -v buildah']).status === 0;
  console.error('rebuild bench: preparing data sets (reused when already generated)...');
  const data = ensureData(dataBase);
  const many = ensureManySmall(dataBase);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-rebuild-bench-'));
  const dockerfile = path.join(work, 'Dockerfile');
  fs.writeFileSync(dockerfile, 'FROM scratch\nCOPY . /data\n');
  const ocibuild = (store, ctx, tag = 'bench:rebuild') => measured(BIN, ['build', '-q', '-f', dockerfile, '--store', store, '-t', tag, ctx]);
  const results = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, runs, rows: [] };
  try {
    // 1. Warm rebuild, nothing changed (the data set itself: nothing is modified).
    const warmStore = path.join(work, 'warm-store');
    ocibuild(warmStore, data.small);
    let buildah;
    if (hasBuildah) {
      const root = path.join(work, 'buildah-root');
      const runroot = path.join(work, 'buildah-runroot');
      buildah = () =>
        measured('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', 'bud', '--layers', '--isolation', 'chroot', '-q', '-f', dockerfile, '-t', 'bench-rebuild', data.small]);
      console.error('rebuild bench: buildah cold build (untimed)...');
      buildah();
    }
    const warm = { ocibuild: [], buildah: [] };
    for (let i = 0; i < runs; i++) {
      warm.ocibuild.push(ocibuild(warmStore, data.small).ms);
      if (buildah) warm.buildah.push(buildah().ms);
      console.error(`rebuild bench: warm run ${i + 1}/${runs}: ocibuild ${(warm.ocibuild[i] / 1000).toFixed(2)}s${buildah ? `, buildah ${(warm.buildah[i] / 1000).toFixed(2)}s` : ''}`);
    }
    const warmMed = median(warm.ocibuild);
    const buildahMed = buildah ? median(warm.buildah) : undefined;
    results.rows.push(
      row(
        'warm rebuild, nothing changed, 20k files',
        `${(warmMed / 1000).toFixed(2)} s`,
        `goal 0.50 s${buildahMed !== undefined ? `; buildah ${(buildahMed / 1000).toFixed(2)} s (ours ${(buildahMed / warmMed).toFixed(1)}x faster)` : ''}`,
        `${(warmMed / 500).toFixed(2)}x the goal`,
        '<= 1.0x the goal',
        warmMed <= 500,
      ),
    );
    results.warm = { ocibuildMs: warm.ocibuild, buildahMs: warm.buildah };

    // 2. One file changed, against a cold COPY of the same layer (an empty store); 3. peak RSS of those cold builds.
    const ctx = path.join(work, 'ctx');
    fs.cpSync(data.small, ctx, { recursive: true, preserveTimestamps: true });
    const files = [];
    for (const a of fs.readdirSync(ctx).sort()) for (const b of fs.readdirSync(path.join(ctx, a)).sort()) for (const c of fs.readdirSync(path.join(ctx, a, b)).sort()) files.push(path.join(ctx, a, b, c));
    const changeStore = path.join(work, 'change-store');
    ocibuild(changeStore, ctx);
    const changed = [];
    const cold = [];
    const coldRss = [];
    for (let i = 0; i < runs; i++) {
      // A different file each run, its bytes changed (appended to).
      fs.appendFileSync(files[(i * 7919) % files.length], `\n// changed ${i}\n`);
      changed.push(ocibuild(changeStore, ctx).ms);
      const coldStore = path.join(work, `cold-store-${i}`);
      const r = ocibuild(coldStore, ctx);
      cold.push(r.ms);
      coldRss.push(r.rssKb);
      fs.rmSync(coldStore, { recursive: true, force: true });
      console.error(`rebuild bench: change run ${i + 1}/${runs}: one file changed ${(changed[i] / 1000).toFixed(2)}s, cold COPY ${(cold[i] / 1000).toFixed(2)}s (${(r.rssKb / 1024).toFixed(0)} MB peak)`);
    }
    const changedMed = median(changed);
    const coldMed = median(cold);
    results.rows.push(row('one file changed of 20k, rebuild', `${(changedMed / 1000).toFixed(2)} s`, `cold COPY of the layer (empty store) ${(coldMed / 1000).toFixed(2)} s`, `${(changedMed / coldMed).toFixed(2)}x`, '<= 1.2x', changedMed <= 1.2 * coldMed));
    const rss20 = median(coldRss) / 1024;
    results.rows.push(row('peak RSS, cold build of 20k files', `${rss20.toFixed(0)} MB`, 'goal 200 MB', `${(rss20 / 200).toFixed(2)}x`, '<= 1.0x', rss20 <= 200));
    results.change = { changedMs: changed, coldMs: cold, coldRssKb: coldRss };

    // 4. Peak RSS of a cold build of 100,000 small files.
    const rss100 = [];
    for (let i = 0; i < Math.min(runs, 2); i++) {
      const store = path.join(work, `many-store-${i}`);
      const r = ocibuild(store, many);
      rss100.push(r.rssKb);
      fs.rmSync(store, { recursive: true, force: true });
      console.error(`rebuild bench: 100k cold build ${i + 1}: ${(r.ms / 1000).toFixed(2)}s, ${(r.rssKb / 1024).toFixed(0)} MB peak`);
    }
    const rssMany = median(rss100) / 1024;
    results.rows.push(row('peak RSS, cold build of 100k small files', `${rssMany.toFixed(0)} MB`, 'goal 200 MB', `${(rssMany / 200).toFixed(2)}x`, '<= 1.0x', rssMany <= 200));
    results.many = { rssKb: rss100 };

    // 5. Peak RSS of a cold build of the 4 big files (419 MB: file size, not count).
    const rssBig = [];
    for (let i = 0; i < Math.min(runs, 2); i++) {
      const store = path.join(work, `big-store-${i}`);
      const r = ocibuild(store, data.big);
      rssBig.push(r.rssKb);
      fs.rmSync(store, { recursive: true, force: true });
      console.error(`rebuild bench: 4 big files cold build ${i + 1}: ${(r.ms / 1000).toFixed(2)}s, ${(r.rssKb / 1024).toFixed(0)} MB peak`);
    }
    const rssBigMb = median(rssBig) / 1024;
    results.rows.push(row('peak RSS, cold build of 4 x 100 MiB files', `${rssBigMb.toFixed(0)} MB`, 'goal 200 MB', `${(rssBigMb / 200).toFixed(2)}x`, '<= 1.0x', rssBigMb <= 200));
    results.big = { rssKb: rssBig };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  results.loadAverageAtEnd = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
  const table = [['what', 'ocibuild', 'anchor', 'ratio', 'target', 'met'], ...results.rows.map((r) => [r.what, r.ours, r.anchor, r.ratio, r.target, r.met ? 'yes' : 'NO'])];
  console.log('');
  for (const line of tableLines(table)) console.log(line);
  console.log(`\nrebuilds and peak RSS through the CLI, medians of ${runs} interleaved runs, page cache warm; load average at the end: ${results.loadAverageAtEnd}.\nJSON: ${jsonOut}`);
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => option(args, name, def);
  await runRebuildBench({ runs: Number(opt('runs', '3')), data: opt('data', os.tmpdir()), json: opt('json', undefined) });
}
