import type { Argv } from 'yargs';
import { OcibuildError } from '../../errors.js';
import { normalizeReference } from '../../oci/reference.js';
import { parsePlatform } from '../../image/platform.js';
import type { CommandContext } from '../main.js';
import { openStore } from '../store.js';
import type { RegistryClient, RegistryClientOptions } from '../../registry/client.js';
import { registryClientOptions, registryFlags } from '../registry-options.js';

/** `ocibuild pull` and `ocibuild push`: the local store and registries. */
export function register(y: Argv, ctx: CommandContext): Argv {
  const store = { type: 'string', describe: 'Store directory (default $OCIBUILD_HOME or $XDG_CACHE_HOME/ocibuild)' } as const;
  return y
    .command(
      'pull <ref>',
      'Pull an image from a registry into the local store',
      (c) =>
        registryFlags(c.positional('ref', { type: 'string', demandOption: true }).option('store', store))
          .option('platform', { type: 'string', describe: 'Platform to pull from a multi-platform image (default: this machine)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false }),
      async (argv) => {
        const ref = argv.ref as string;
        // A bad --platform is a usage error before any request or store.
        const platform = argv.platform ? parsePlatform(argv.platform) : undefined;
        // The registry client loads when a pull runs, not at start-up (issue 8).
        const { pull } = await import('../../registry/index.js');
        const clientOptions = await registryClientOptions(ctx, argv, [ref]);
        const { domain } = normalizeReference(ref);
        // The first registry a pull asks: the first mirror, else the registry itself.
        const result = await withPreparedClient(clientOptions, (client) => client.mirrorsFor(domain)[0] ?? domain, async (client) => {
          const s = await openStore(ctx, argv.store);
          const pulled = await pull(ref, {
            ...clientOptions,
            client,
            sink: s,
            ...(platform ? { platform } : {}),
            ...(argv.quiet
              ? {}
              : {
                  onProgress: (e) => {
                    if (e.phase === 'done' || e.phase === 'exists') ctx.io.stderr.write(`  ${e.kind} ${e.digest} ${e.total} bytes${e.phase === 'exists' ? ' (already in the store)' : ''}\n`);
                  },
                }),
          });
          if (!normalizeReference(ref).digest) await s.tag(ref, pulled.descriptor);
          return pulled;
        });
        ctx.io.stdout.write(`${result.descriptor.digest}\n`);
      },
    )
    .command(
      'push <local> [remote]',
      'Push an image from the local store to a registry (remote defaults to the local name)',
      (c) =>
        registryFlags(
          c
            .positional('local', { type: 'string', demandOption: true, describe: 'Local store tag or digest' })
            .positional('remote', { type: 'string', describe: 'Registry reference (host/repo:tag)' })
            .option('store', store),
        ),
      async (argv) => {
        const local = argv.local as string;
        const remote = (argv.remote as string | undefined) ?? local;
        const { push, blobOrigins } = await import('../../push/index.js');
        const clientOptions = await registryClientOptions(ctx, argv, [remote]);
        const target = normalizeReference(remote);
        const result = await withPreparedClient(clientOptions, () => target.domain, async (client) => {
          const s = await openStore(ctx, argv.store);
          const descriptor = await s.resolve(local);
          if (!descriptor) throw new OcibuildError('IMAGE_NOT_FOUND', `no such image in the local store: ${local}`);
          return push({ source: s, descriptor }, remote, {
            ...clientOptions,
            client,
            origins: blobOrigins(s, target),
            onProgress: (e) => {
              if (e.phase !== 'uploading' && e.phase !== 'waiting') ctx.io.stderr.write(`  ${e.kind} ${e.digest} ${e.phase}${e.tag ? ` ${e.tag}` : ''}\n`);
            },
          });
        });
        ctx.io.stderr.write(`pushed ${result.uploaded} blobs (${result.uploadedBytes} bytes), ${result.existing} already there, ${result.mounted} mounted\n`);
        ctx.io.stdout.write(`${result.digest}\n`);
      },
    );
}

/**
 * Runs `work` with a registry client whose ping to `first(client)` has started, so that its round
 * trips overlap the store's opening and reading (issue 8). The client is closed after, whatever
 * happens, which also ends that ping: a command failing before its first request (no such image,
 * a store that cannot open) never waits on an unanswered registry.
 */
async function withPreparedClient<T>(options: RegistryClientOptions, first: (client: RegistryClient) => string, work: (client: RegistryClient) => Promise<T>): Promise<T> {
  const { RegistryClient } = await import('../../registry/client.js');
  const client = await RegistryClient.create(options);
  try {
    client.prepare(first(client));
    return await work(client);
  } finally {
    await client.close();
  }
}
