/**
 * parseDockerfile: the physical-line pass (BOM, line endings, directives,
 * comments, continuations, heredoc bodies) as BuildKit's parser.Parse does it,
 * handing each logical line to the grammar (instruction.ts).
 */
import { OcibuildError, type SourceRange } from '../errors.js';
import type { Directive, DockerfileAst, EscapeToken, Heredoc, InstructionNode, ParseWarning } from './ast.js';
import type { ByteString } from './bytes.js';
import { decodeByteString, displayByteString, escapeNonPrintable, leftSpaceEnd, trimSpace } from './bytes.js';
import { DirectiveParser } from './directives.js';
import { LineGrammars } from './grammars.js';
import { heredocMarkersInLine, ShellLexError } from './heredoc.js';
import { buildInstruction, type InstructionContext } from './instruction.js';
import { inputToByteString, LINE_TOO_LONG, type LogicalLine, logicalRange, SourceText } from './source.js';

/** Options of parseDockerfile. */
export interface ParseOptions {
  /** Source name used in errors and stored in the tree (default `Dockerfile`). */
  file?: string;
}

/** Keywords whose (non-JSON) form may carry heredocs. */
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);

/** BuildKit's NoEmptyContinuation warning texts. */
export const EMPTY_CONTINUATION = {
  rule: 'NoEmptyContinuation',
  detail: 'Empty continuation lines will become errors in a future release',
  url: 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/',
} as const;

/** Remove the continuation escape (and blanks after it) at the end of a line. */
function trimContinuation(line: ByteString, escape: string): [ByteString, boolean] {
  let j = line.length;
  while (j > 0) {
    const c = line[j - 1];
    if (c === ' ' || c === '\t') j--;
    else break;
  }
  if (j > 0 && line[j - 1] === escape && (j === 1 || line[j - 2] !== escape)) {
    return [line.slice(0, j - 1), false];
  }
  return [line, true];
}

function isCommentLine(src: SourceText, start: number, contentEnd: number): boolean {
  const a = leftSpaceEnd(src.bytes, start, contentEnd);
  return a < contentEnd && src.bytes.charCodeAt(a) === 0x23;
}

/**
 * Parse a Dockerfile into its syntax tree. Bytes are read as BuildKit reads
 * them (invalid UTF-8 is kept; see bytes.ts); strings are UTF-8 encoded first.
 * Throws OcibuildError('DOCKERFILE_SYNTAX') with a range on bad input.
 */
export function parseDockerfile(source: string | Uint8Array, options: ParseOptions = {}): DockerfileAst {
  const file = options.file ?? 'Dockerfile';
  const src = new SourceText(inputToByteString(source));
  const bytes = src.bytes;
  const tooLong = src.firstTooLongLine();
  // BuildKit's scanner stops at an over-long line: what comes before is parsed
  // (its errors win), then the scanner error is reported.
  const lines = tooLong < 0 ? src.lines : src.lines.slice(0, tooLong);
  const tooLongError = (): OcibuildError =>
    new OcibuildError('DOCKERFILE_SYNTAX', LINE_TOO_LONG, { file, range: src.tooLongRange(tooLong) });
  const error = (message: string, range: SourceRange, hint?: string): OcibuildError =>
    new OcibuildError('DOCKERFILE_SYNTAX', escapeNonPrintable(message), { file, range, ...(hint ? { hint: escapeNonPrintable(hint) } : {}) });

  const grammars = new LineGrammars();
  const directiveParser = new DirectiveParser('#');
  const directives: Directive[] = [];
  let escape = '\\';
  const instructions: InstructionNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];

  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    if (isCommentLine(src, first.start, first.contentEnd)) {
      // Upstream drops the first byte of the raw line, then trims.
      const comment = trimSpace(bytes.slice(first.start + 1, first.end));
      if (comment === '') comments = [];
      else comments.push(decodeByteString(comment));
    }
    const a = leftSpaceEnd(bytes, first.start, first.contentEnd);
    let token = bytes.slice(a, first.contentEnd);
    let directive;
    try {
      directive = directiveParser.parseLine(token);
    } catch (e) {
      throw error((e as Error).message, src.range(a, first.contentEnd));
    }
    if (directive) {
      const range = src.range(a, first.contentEnd);
      if (directive.name === 'escape') {
        if (directive.value !== '`' && directive.value !== '\\') {
          throw error(`invalid escape token '${displayByteString(directive.value)}' does not match \` or \\`, range);
        }
        escape = directive.value;
      }
      directives.push({ name: directive.name, value: decodeByteString(directive.value), range });
      // A directive line is not a comment of the instruction below it.
      comments.pop();
    }
    if (token.startsWith('#')) token = '';
    i++;

    let [text, isEnd] = trimContinuation(token, escape);
    if (isEnd && text === '') continue;
    const logical: LogicalLine = { text, segments: [{ at: 0, src: a }] };
    let hasEmptyContinuation = false;
    while (!isEnd && i < lines.length) {
      const line = lines[i]!;
      i++;
      if (isCommentLine(src, line.start, line.contentEnd)) continue;
      if (leftSpaceEnd(bytes, line.start, line.contentEnd) === line.contentEnd) {
        hasEmptyContinuation = true;
        continue;
      }
      const [piece, end] = trimContinuation(bytes.slice(line.start, line.contentEnd), escape);
      isEnd = end;
      logical.segments.push({ at: logical.text.length, src: line.start });
      logical.text += piece;
    }

    const ctx: InstructionContext = { grammars, src, file, escapeToken: escape.charCodeAt(0) };
    const node = buildInstruction(ctx, { line: logical, base: 0 }, logical.text, comments);

    if (hasEmptyContinuation) {
      warnings.push({
        rule: EMPTY_CONTINUATION.rule,
        message: `Empty continuation line found in: ${displayByteString(logical.text)}`,
        detail: EMPTY_CONTINUATION.detail,
        url: EMPTY_CONTINUATION.url,
        range: src.lineRange(i - 1),
      });
    }

    const target = node.keyword === 'onbuild' && node.trigger ? node.trigger : node;
    if (HEREDOC_KEYWORDS.has(target.keyword) && !target.json && logical.text.includes('<<')) {
      let markers;
      try {
        markers = heredocMarkersInLine(grammars, logical.text);
      } catch (e) {
        if (!(e instanceof ShellLexError)) throw e;
        throw error(e.message, node.range);
      }
      const heredocs: Heredoc[] = [];
      for (const marker of markers) {
        const markerRange = logicalRange(src, logical, marker.start, Math.min(marker.end, logical.text.length));
        let content = '';
        let terminated = false;
        let lastLine = i;
        while (i < lines.length) {
          const line = lines[i]!;
          i++;
          let candidate = bytes.slice(line.start, line.contentEnd);
          if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === marker.name) {
            terminated = true;
            lastLine = i - 1;
            break;
          }
          content += bytes.slice(line.start, line.end);
        }
        if (!terminated) {
          if (tooLong >= 0) throw tooLongError();
          throw error('unterminated heredoc', markerRange, `no line "${displayByteString(marker.name)}" ends this heredoc`);
        }
        const end = lines[lastLine]!;
        heredocs.push({
          name: decodeByteString(marker.name),
          fileDescriptor: marker.fileDescriptor,
          expand: marker.expand,
          chomp: marker.chomp,
          content: decodeByteString(content),
          range: { start: markerRange.start, end: src.endPosition(end.contentEnd, end.start) },
          markerRange,
        });
      }
      node.heredocs = heredocs;
      if (target !== node) target.heredocs = [...heredocs];
    }

    // The node spans every physical line consumed (skipped lines and heredoc bodies included).
    const last = lines[i - 1]!;
    node.range = { start: node.range.start, end: src.endPosition(last.contentEnd, last.start) };
    if (node.range.end.offset < node.range.start.offset) node.range.end = node.range.start;
    instructions.push(node);
    comments = [];
  }

  if (tooLong >= 0) throw tooLongError();
  if (instructions.length === 0) {
    // Point just after the last text of the file.
    const last = src.lines[src.lines.length - 1];
    const at = last ? last.contentEnd : 0;
    throw error('file with no instructions', src.range(at, at));
  }
  return {
    directives,
    escapeToken: escape as EscapeToken,
    instructions,
    warnings,
    file,
    source: src.text,
  };
}
