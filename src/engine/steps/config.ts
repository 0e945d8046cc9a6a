/**
 * Config-only steps (ENV, LABEL, CMD, USER, ARG, ...): the config change is
 * the step itself (applied by the stage before the step runs, a pure
 * function), no layer, a history entry. Nothing to cache: the chain key
 * covers them.
 */
import type { Step } from '../../graph/types.js';
import type { Executor } from '../step.js';
import { outcomeWith } from './common.js';

/** The executor of every config-only step kind. */
export function configExecutor<S extends Step>(): Executor<S> {
  return {
    async key() {
      return { cacheable: false, reason: 'changes the image config only' };
    },
    async execute(ctx) {
      return outcomeWith(ctx, undefined);
    },
    reuse(ctx) {
      return outcomeWith(ctx, undefined);
    },
  };
}
