import type { Warning } from '../compiler/lint.js';
import { formatCodeFrame } from '../code-frame.js';

/** Prints a build-check warning as BuildKit does: rule, message, location, code frame. */
export function formatWarning(w: Warning, sources: ReadonlyMap<string, string>, options: { color?: boolean; level?: 'warning' | 'error' } = {}): string {
  const { line, column } = w.range.start;
  const lines = [`${w.file}:${line}:${column}: ${options.level ?? 'warning'}: ${w.rule}: ${w.message}`];
  if (w.detail) lines.push(`  ${w.detail}`);
  lines.push(`  ${w.description} (${w.url})`);
  const source = sources.get(w.file);
  if (source !== undefined) lines.push('', formatCodeFrame(source, w.range, { contextLines: 1, color: options.color }), '');
  return lines.join('\n') + '\n';
}
