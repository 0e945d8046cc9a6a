/**
 * A second thread for the copy memo's replay (issue 8: warm rebuild). A
 * rebuild where nothing changed still asks every recorded question again
 * (one lstat per context file, ~5 µs each here, most of a 20,000-file warm
 * rebuild); with the segments shared between the building thread and this
 * one, two cores ask them. The thread is started early in a build whose
 * store holds memos (a worker takes ~50 ms to start, about what the build
 * spends before its first COPY looks its memo up), is unref'd, and ends with
 * the build or after a while idle.
 *
 * The worker module is compiled JavaScript beside this one
 * (dist/copy/replay-worker.js, also from the bundled CLI in dist/cli); where
 * it is absent (the TypeScript sources under test) there is no helper and
 * the building thread asks every question itself, as it does for any source
 * without a recipe.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReplayHelper } from './observed.js';
import type { ReplayDone, ReplayJob } from './replay-worker.js';
import type { SourceFs } from './types.js';

/** The compiled worker, from dist/copy or from the bundle in dist/cli (both one level below dist). */
export function replayWorkerUrl(): URL {
  return new URL('../copy/replay-worker.js', import.meta.url);
}

/** How long the thread waits for more work before it ends. */
const IDLE_MS = 2000;

export class ReplayThread implements ReplayHelper {
  private readonly worker: Worker;
  private readonly pending = new Map<number, (results: Map<number, string | undefined>) => void>();
  private seq = 0;
  private ended = false;
  private idle: NodeJS.Timeout | undefined;
  /** Segments this thread answered, over its life (tests and progress). */
  answered = 0;

  private constructor(url: URL) {
    this.worker = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.worker.unref();
    this.worker.on('message', (m: ReplayDone) => {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      this.answered += m.results.length;
      resolve?.(new Map(m.results));
      this.armIdle();
    });
    const end = () => {
      this.ended = true;
      if (this.idle) clearTimeout(this.idle);
      for (const resolve of this.pending.values()) resolve(new Map());
      this.pending.clear();
    };
    this.worker.on('error', end);
    this.worker.on('exit', end);
    this.armIdle();
  }

  /** A started thread, or undefined when the compiled worker is not there. */
  static start(url: URL = replayWorkerUrl()): ReplayThread | undefined {
    if (url.protocol !== 'file:' || !existsSync(fileURLToPath(url))) return undefined;
    return new ReplayThread(url);
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    if (this.ended || this.pending.size > 0) return;
    this.idle = setTimeout(() => void this.close(), IDLE_MS);
    this.idle.unref();
  }

  replay(fs: SourceFs, questions: readonly string[], claims: Int32Array, digests: readonly string[]): Promise<Map<number, string | undefined>> | undefined {
    if (this.ended || fs.recipe === undefined) return undefined;
    if (this.idle) clearTimeout(this.idle);
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      const job: ReplayJob = { id, recipe: fs.recipe!, questions: questions as string[], digests: digests as string[], claims };
      this.worker.postMessage(job);
    });
  }

  /** Ends the thread (whatever it was asked is answered by the building thread). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (this.idle) clearTimeout(this.idle);
    await this.worker.terminate();
  }
}
