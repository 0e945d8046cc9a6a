import type { Argv } from 'yargs';
import { listCacheMounts, pruneCacheMounts } from '../../cache/cache-mounts.js';
import { listImages, pruneStore, removeImages } from '../../cache/commands.js';
import { parseDuration } from '../../cache/units.js';
import { formatSize } from '../../cache/units.js';
import type { CommandContext } from '../main.js';
import { openStore } from '../store.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** `ocibuild images`, `ocibuild rmi`, `ocibuild prune`: the local store. */
export function register(y: Argv, ctx: CommandContext): Argv {
  const store = { type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' } as const;
  return y
    .command(
      'images',
      'List images in the local store',
      (c) =>
        c
          .option('store', store)
          .option('digests', { type: 'boolean', default: false, describe: 'Show full digests' })
          .option('format', { choices: ['table', 'json'] as const, default: 'table' as const })
          .option('caches', { type: 'boolean', default: false, describe: 'List the RUN --mount=type=cache directories instead' }),
      async (argv) => {
        if (argv.caches) {
          const caches = await listCacheMounts(await openStore(ctx, argv.store));
          if (argv.format === 'json') {
            ctx.io.stdout.write(JSON.stringify(caches, null, 2) + '\n');
            return;
          }
          const rows = [['CACHE ID', 'SIZE', 'LAST USED', 'CREATED']];
          for (const c of caches) rows.push([c.id, formatSize(c.size ?? 0), c.lastUsed, c.created]);
          ctx.io.stdout.write(table(rows));
          return;
        }
        const images = await listImages(await openStore(ctx, argv.store));
        if (argv.format === 'json') {
          ctx.io.stdout.write(JSON.stringify(images, null, 2) + '\n');
          return;
        }
        const rows = [['REPOSITORY:TAG', 'DIGEST', 'PLATFORMS', 'SIZE', 'CREATED']];
        for (const i of images) {
          rows.push([i.name, argv.digests ? i.digest : i.digest.slice(7, 19), i.platforms.join(',') || '-', formatSize(i.size), i.created ?? '-']);
        }
        ctx.io.stdout.write(table(rows));
      },
    )
    .command(
      'rmi <names..>',
      'Remove images (tags, or every tag of a digest) from the local store',
      (c) => c.positional('names', { type: 'string', array: true, demandOption: true }).option('store', store).option('no-prune', { type: 'boolean', default: false, describe: 'Keep blobs no tag references any more' }),
      async (argv) => {
        const r = await removeImages(await openStore(ctx, argv.store), argv.names as string[], { prune: !argv['no-prune'] });
        for (const u of r.untagged) ctx.io.stdout.write(`Untagged: ${u.name} (${u.digest})\n`);
        if (r.pruned) ctx.io.stdout.write(`Deleted ${r.pruned.removedBlobs} blobs, ${formatSize(r.pruned.freedBytes)} freed\n`);
      },
    )
    .command(
      'prune',
      'Free space in the local store: unreferenced blobs, old step-cache entries and RUN cache mounts',
      (c) =>
        c
          .option('store', store)
          .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Drop the whole step cache too' })
          .option('older-than', { type: 'string', describe: 'Only step-cache entries older than this (e.g. 24h, 7d)' })
          .option('keep-storage', { type: 'string', describe: 'Keep at most this much step cache (e.g. 10GB)' })
          .option('caches', { type: 'boolean', default: false, describe: 'Remove every RUN --mount=type=cache directory not in use (default: those unused for 15 minutes, or for --older-than); --all implies it' }),
      async (argv) => {
        const s = await openStore(ctx, argv.store);
        const r = await pruneStore(s, {
          all: argv.all,
          ...(argv['older-than'] !== undefined ? { olderThan: argv['older-than'] } : {}),
          ...(argv['keep-storage'] !== undefined ? { keepStorage: argv['keep-storage'] } : {}),
        });
        ctx.io.stdout.write(`Deleted ${r.removedBlobs} blobs and ${r.removedSteps} step-cache entries, ${formatSize(r.freedBytes)} freed\n`);
        const { DEFAULT_GRACE_PERIOD_MS } = await import('../../cache/store.js');
        const olderThan = argv['older-than'] !== undefined ? parseDuration(argv['older-than']) : argv.caches || argv.all ? undefined : DEFAULT_GRACE_PERIOD_MS;
        const c = await pruneCacheMounts(s, olderThan !== undefined ? { olderThan } : {});
        ctx.io.stdout.write(`Deleted ${c.removed} cache mounts, ${formatSize(c.freedBytes)} freed\n`);
      },
    );
}
