/**
 * WORKDIR creates its directory (and missing parents) in a layer, owned by
 * the image's USER, as BuildKit's `mkdir -p` file op does. Nothing to create
 * means no layer (the history entry is then an empty layer). Not cached: the
 * layer is a few headers, cheaper to write than to look up.
 */
import { resolveChown, splitChown } from '../../copy/chown.js';
import { OcibuildError } from '../../errors.js';
import { resolveWorkdir } from '../../graph/config.js';
import type { WorkdirStep } from '../../graph/types.js';
import { writeLayer } from '../../layers/index.js';
import type { LayerEntry } from '../../layers/types.js';
import type { Executor } from '../step.js';
import { outcomeWith, writeLayerBlob } from './common.js';

export const workdirExecutor: Executor<WorkdirStep> = {
  async key() {
    return { cacheable: false, reason: 'a WORKDIR layer is cheaper to write than to look up' };
  },
  async execute(ctx) {
    const after = ctx.configAfter;
    const wd = after.config.WorkingDir ?? resolveWorkdir('/', ctx.step.path);
    if (wd === '/') return outcomeWith(ctx, undefined);
    const view = await ctx.rootfs.view();
    let owner = { uid: 0, gid: 0 };
    const user = after.config.User;
    if (user) owner = await resolveChown(splitChown(user), view ? (p) => view.readFile(p) : undefined);
    const epoch = ctx.settings.sourceDateEpoch;
    const entries: LayerEntry[] = [];
    let cur = '';
    for (const part of wd.split('/').filter(Boolean)) {
      cur = cur ? `${cur}/${part}` : part;
      const resolved = view?.resolve('/' + cur);
      const existing = resolved !== undefined ? await view!.lstat(resolved) : undefined;
      if (existing) {
        if (existing.type !== 'directory') {
          throw new OcibuildError('DOCKERFILE_INSTRUCTION', `WORKDIR ${wd}: /${cur} exists in the image and is not a directory`);
        }
        continue;
      }
      if (resolved === undefined && view && (await view.lstat('/' + cur))?.type === 'symlink') {
        throw new OcibuildError('DOCKERFILE_INSTRUCTION', `WORKDIR ${wd}: /${cur} is a symbolic link to a missing directory`);
      }
      entries.push({ path: cur, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: epoch ?? 0 });
    }
    if (entries.length === 0) return outcomeWith(ctx, undefined);
    const layer = await writeLayerBlob(ctx, (out) => writeLayer(entries, out, { compression: 'gzip', ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}), signal: ctx.signal }));
    return outcomeWith(ctx, layer);
  },
  reuse(ctx, layer) {
    return outcomeWith(ctx, layer);
  },
};
