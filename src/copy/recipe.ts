/**
 * A source made again from its recipe (`SourceFs.recipe`): the build context
 * in another thread, answering as the one it was taken from (the copy memo's
 * replay helper, src/copy/replay-worker.ts).
 */
import { ignoreViewFromPatterns } from './ignore.js';
import { contextSourceFs } from './source-fs.js';
import type { SourceFs, SourceRecipe } from './types.js';

export function sourceFsFromRecipe(recipe: SourceRecipe): SourceFs {
  if (recipe.kind !== 'context') throw new Error(`no source of kind ${String(recipe.kind)}`);
  return contextSourceFs(recipe.root, recipe.ignore ? ignoreViewFromPatterns(recipe.ignore.patterns, recipe.ignore.fileName) : undefined, recipe.description);
}
