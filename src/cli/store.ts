import os from 'node:os';
import type { Store } from '../cache/store.js';
import type { CommandContext } from './main.js';

/** Opens the store named by `--store`, else `$OCIBUILD_HOME` / `$XDG_CACHE_HOME/ocibuild`. */
export async function openStore(ctx: CommandContext, explicit?: string): Promise<Store> {
  // Loaded when a command opens the store, not when the CLI starts (issue 8: start-up).
  const { Store } = await import('../cache/store.js');
  const { defaultStoreRoot } = await import('../cache/paths.js');
  // rootfs/userns, not rootfs/unpacked: opening the store needs no layer reader or writer (issue 8).
  const { storeRemoveOptions } = await import('../rootfs/userns.js');
  return Store.open(explicit ?? defaultStoreRoot(ctx.io.env, os.homedir()), storeRemoveOptions());
}
