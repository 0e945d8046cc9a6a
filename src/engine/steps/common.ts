/** Pieces every executor shares: the history entry and the outcome of a hit. */
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Step } from '../../graph/types.js';
import type { ConfigState } from '../../graph/config.js';
import type { Layer } from '../../image/state.js';
import { HISTORY_COMMENT, historyText } from '../history.js';
import type { StepContext, StepOutcome } from '../step.js';

/** The step's history entry, as BuildKit writes it (none for ONBUILD). */
export function historyEntry(ctx: StepContext, config: ConfigState = ctx.configAfter): StepOutcome['history'] {
  const text = historyText(ctx.step, config.config);
  return text === undefined ? undefined : { created: ctx.settings.created, created_by: text, comment: HISTORY_COMMENT };
}

/** The outcome of a step whose layer (if any) is known: the config change and history are the step's own. */
export function outcomeWith<S extends Step>(ctx: StepContext<S>, layer: Layer | undefined): StepOutcome {
  const history = historyEntry(ctx);
  return { ...(layer ? { layer } : {}), config: ctx.configAfter, ...(history ? { history } : {}) };
}

/** Writes a layer into the store from `write` (which streams the tar into `out`), reporting bytes as they go. */
export async function writeLayerBlob(
  ctx: StepContext,
  write: (out: Writable) => Promise<{ diffId: Layer['diffId']; digest: Layer['digest']; size: number; mediaType: string }>,
): Promise<Layer> {
  const writer = await ctx.store.createWriter();
  // The pushed image's layers are followed as they are written (their upload starts now).
  const follower = ctx.settings.layerFollower;
  if (follower?.stages.has(ctx.stage.index)) {
    try {
      follower.follow(await writer.follow(), ctx.progress.vertex);
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }
  const id = `layer:${ctx.progress.vertex}`;
  const target = writer.stream;
  let bytes = 0;
  let last = 0;
  // Counts the compressed bytes on their way into the store, for `status` events (at most ten a second).
  const counted = new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      const t = Date.now();
      if (t - last >= 100) {
        last = t;
        ctx.progress.status(id, bytes);
      }
      if (target.write(chunk)) cb();
      else target.once('drain', () => cb());
    },
    final(cb) {
      target.end();
      finished(target).then(() => cb(), cb);
    },
  });
  target.on('error', (e) => counted.destroy(e));
  try {
    const result = await write(counted);
    const info = await writer.commit(result.digest);
    ctx.progress.status(id, info.size, info.size, true);
    return { mediaType: result.mediaType, digest: info.digest, size: info.size, diffId: result.diffId };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
