import type { Argv } from 'yargs';
import { listImages, pruneStore, removeImages } from '../../cache/commands.js';
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
      (c) => c.option('store', store).option('digests', { type: 'boolean', default: false, describe: 'Show full digests' }).option('format', { choices: ['table', 'json'] as const, default: 'table' as const }),
      async (argv) => {
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
      'Free space in the local store: unreferenced blobs and old step-cache entries',
      (c) =>
        c
          .option('store', store)
          .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Drop the whole step cache too' })
          .option('older-than', { type: 'string', describe: 'Only step-cache entries older than this (e.g. 24h, 7d)' })
          .option('keep-storage', { type: 'string', describe: 'Keep at most this much step cache (e.g. 10GB)' }),
      async (argv) => {
        const r = await pruneStore(await openStore(ctx, argv.store), {
          all: argv.all,
          ...(argv['older-than'] !== undefined ? { olderThan: argv['older-than'] } : {}),
          ...(argv['keep-storage'] !== undefined ? { keepStorage: argv['keep-storage'] } : {}),
        });
        ctx.io.stdout.write(`Deleted ${r.removedBlobs} blobs and ${r.removedSteps} step-cache entries, ${formatSize(r.freedBytes)} freed\n`);
      },
    );
}
