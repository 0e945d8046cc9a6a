/**
 * String-level entry points to the parser's internal splitters, for the
 * compiler and for tests. They take and return ordinary strings.
 */
import { OcibuildError } from '../errors.js';
import type { EscapeToken, Heredoc } from './ast.js';
import { decodeByteString, encodeToByteString } from './bytes.js';
import { LineGrammars } from './grammars.js';
import { heredocMarkersInLine, parseHeredocMarker, ShellLexError } from './heredoc.js';
import { JSON_NOT_STRINGS, parseJsonArray } from './json.js';
import { splitWhitespace, splitWords } from './words.js';

/**
 * BuildKit's parseWords (the ENV/LABEL/ARG splitter): words separated by
 * whitespace outside quotes, quotes and escapes kept.
 */
export function parseWords(text: string, escapeToken: EscapeToken = '\\'): string[] {
  return splitWords(encodeToByteString(text), escapeToken.charCodeAt(0)).map((w) => decodeByteString(w.text));
}

/**
 * The argument nodes BuildKit builds for ENV or LABEL: `[key, value, ""]` for
 * the legacy `KEY value` form, `[key, value, "="]` per pair otherwise.
 * Throws DOCKERFILE_SYNTAX (`ENV must have two arguments`, `can't find =`).
 */
export function parseNameValue(instruction: 'ENV' | 'LABEL', text: string, escapeToken: EscapeToken = '\\'): string[] {
  const rest = encodeToByteString(text);
  const words = splitWords(rest, escapeToken.charCodeAt(0));
  if (words.length === 0) return [];
  if (!words[0]!.text.includes('=')) {
    const parts = splitWhitespace(rest, 2);
    if (parts.length < 2) throw new OcibuildError('DOCKERFILE_SYNTAX', `${instruction} must have two arguments`);
    return [decodeByteString(parts[0]!.text), decodeByteString(parts[1]!.text), ''];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.text.indexOf('=');
    if (eq < 0) {
      throw new OcibuildError(
        'DOCKERFILE_SYNTAX',
        `Syntax error - can't find = in ${JSON.stringify(decodeByteString(w.text))}. Must be of the form: name=value`,
      );
    }
    out.push(decodeByteString(w.text.slice(0, eq)), decodeByteString(w.text.slice(eq + 1)), '=');
  }
  return out;
}

/**
 * The exec form: the elements when `text` is a JSON array of strings,
 * undefined when it is not JSON (shell form); throws DOCKERFILE_SYNTAX when it
 * is a JSON array holding a non-string.
 */
export function parseJsonArgs(text: string): string[] | undefined {
  const r = parseJsonArray(new LineGrammars(), encodeToByteString(text));
  if (r.kind === 'not-json') return undefined;
  if (r.kind === 'not-strings') throw new OcibuildError('DOCKERFILE_SYNTAX', JSON_NOT_STRINGS);
  return r.elements.map((e) => decodeByteString(e.value));
}

/** A heredoc marker's meaning (no body, no range). */
export type HeredocWord = Pick<Heredoc, 'name' | 'fileDescriptor' | 'expand' | 'chomp'>;

/**
 * BuildKit's ParseHeredoc for one word (`<<EOF`, `3<<-'EOF'`): undefined when
 * it is not a heredoc marker; DOCKERFILE_SYNTAX when its name does not lex.
 */
export function parseHeredocWord(word: string): HeredocWord | undefined {
  let m;
  try {
    m = parseHeredocMarker(new LineGrammars(), encodeToByteString(word));
  } catch (e) {
    if (e instanceof ShellLexError) throw new OcibuildError('DOCKERFILE_SYNTAX', e.message, { cause: e });
    throw e;
  }
  if (!m) return undefined;
  return { name: decodeByteString(m.name), fileDescriptor: m.fileDescriptor, expand: m.expand, chomp: m.chomp };
}

/** The heredoc names a whole instruction line declares, in order (BuildKit's heredocsFromLine). */
export function heredocNamesFromLine(line: string): string[] {
  try {
    return heredocMarkersInLine(new LineGrammars(), encodeToByteString(line)).map((h) => decodeByteString(h.name));
  } catch (e) {
    if (e instanceof ShellLexError) throw new OcibuildError('DOCKERFILE_SYNTAX', e.message, { cause: e });
    throw e;
  }
}
