import os from 'node:os';
import { Store } from '../cache/store.js';
import { defaultStoreRoot } from '../cache/paths.js';
import { storeRemoveOptions } from '../rootfs/unpacked.js';
import type { CommandContext } from './main.js';

/** Opens the store named by `--store`, else `$OCIBUILD_HOME` / `$XDG_CACHE_HOME/ocibuild`. */
export function openStore(ctx: CommandContext, explicit?: string): Promise<Store> {
  return Store.open(explicit ?? defaultStoreRoot(ctx.io.env, os.homedir()), storeRemoveOptions());
}
