import { OcibuildError } from '../errors.js';
import { formatCodeFrame } from '../code-frame.js';

/**
 * Renders an error for a person: `file:line:column: message`, a code frame when
 * the source is known, the hint, and the registry's own error codes. Never a
 * stack trace for an OcibuildError; anything else is our bug and says so.
 */
export function formatError(err: unknown, sources: ReadonlyMap<string, string>, options: { color?: boolean; debug?: boolean } = {}): string {
  if (err instanceof OcibuildError) {
    const lines: string[] = [];
    const where = err.location;
    lines.push(`error: ${where ? `${where}: ` : ''}${err.message} [${err.code}]`);
    const source = err.file !== undefined ? sources.get(err.file) : undefined;
    if (source !== undefined && err.range) {
      lines.push('', formatCodeFrame(source, err.range, { color: options.color }), '');
    }
    // A suggestion already in the message ("did you mean ...?") is not repeated.
    if (err.hint && !/did you mean/.test(err.message)) lines.push(`hint: ${err.hint}`);
    const errors = err.details?.['errors'];
    if (Array.isArray(errors)) {
      for (const e of errors as { code?: string; message?: string }[]) {
        lines.push(`registry: ${e.code ?? 'UNKNOWN'}: ${e.message ?? ''}`);
      }
    }
    if (options.debug && err.cause) lines.push(`caused by: ${describeCause(err.cause)}`);
    return lines.join('\n') + '\n';
  }
  const e = err as Error;
  const text = options.debug && e?.stack ? e.stack : `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
  return `internal error (a bug in ocibuild; please report it): ${text}\n`;
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}
