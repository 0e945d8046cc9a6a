/**
 * RUN: not supported yet (the rootless sandbox is the next milestone). The
 * context already offers what it will need: the stage's layers
 * (`ctx.image.layers`), their unpacked trees (`ctx.rootfs.unpacked()`), the
 * config (`ctx.config`: Env, User, WorkingDir, Shell), the build args in
 * scope (`ctx.args`), the store, a temp dir, the signal and the progress sink
 * for its output (`ctx.progress.log`).
 */
import { OcibuildError } from '../../errors.js';
import type { RunStep } from '../../graph/types.js';
import type { Executor, StepContext } from '../step.js';

function unsupported(ctx: StepContext<RunStep>): OcibuildError {
  return new OcibuildError(
    'UNSUPPORTED',
    'RUN is not supported yet: it needs the rootless sandbox, which is the next milestone (see README, "What is missing")',
    { file: ctx.settings.file, range: ctx.step.range, hint: `stage ${ctx.stage.name ?? ctx.stage.index} cannot be built until RUN lands; use --dry-run to see the plan` },
  );
}

export const runExecutor: Executor<RunStep> = {
  async key(ctx) {
    throw unsupported(ctx);
  },
  async execute(ctx) {
    throw unsupported(ctx);
  },
  reuse(ctx) {
    throw unsupported(ctx);
  },
};
