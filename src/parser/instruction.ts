/**
 * One logical line → one InstructionNode (BuildKit's newNodeFromLine): the
 * `instruction` grammar gives keyword, flag words and where the arguments
 * start; the per-keyword argument parsers of line_parsers.go give the nodes.
 */
import assert from 'node:assert/strict';
import { OcibuildError, type SourceRange } from '../errors.js';
import type { FlagNode, InstructionNode } from './ast.js';
import type { ByteString } from './bytes.js';
import {
  decodeByteString,
  displayByteString,
  escapeNonPrintable,
  goQuoteBytes,
  goToLower,
  isSpaceRune,
  leftSpaceEnd,
  rightSpaceStart,
} from './bytes.js';
import type { FlagWordCst, LineGrammars, Tok } from './grammars.js';
import { JSON_NOT_STRINGS, parseJsonArray } from './json.js';
import { type LogicalLine, logicalRange, type SourceText } from './source.js';
import { splitWhitespace, splitWords } from './words.js';

/** What building an instruction needs. */
export interface InstructionContext {
  grammars: LineGrammars;
  src: SourceText;
  file: string;
  /** Escape token as a char code. */
  escapeToken: number;
}

/** A piece of a logical line: `text` is `line.text.slice(base, base + text.length)`. */
interface Span {
  line: LogicalLine;
  base: number;
}

/** Argument nodes as byte strings, plus whether they came from JSON. */
interface ArgNodes {
  args: ByteString[];
  json: boolean;
  /** ONBUILD: the trigger's text and where it sits, built by the caller's loop. */
  trigger?: { span: Span; text: ByteString };
}

function syntaxError(ctx: InstructionContext, message: string, range: SourceRange): OcibuildError {
  return new OcibuildError('DOCKERFILE_SYNTAX', escapeNonPrintable(message), { file: ctx.file, range });
}

/** Go's strings.ToUpper for the fixed keys BuildKit uses in messages. */
const NAME_VALUE_KEYS: Record<string, string> = { env: 'ENV', label: 'LABEL' };

/** The processed text of a flag word: quotes removed, `\x` → x, bytes as Latin-1 code points. */
function flagWordText(word: FlagWordCst): string {
  let out = '';
  for (const t of word.tokens) {
    switch (t.type) {
      case 'dashdash':
      case 'text':
        out += t.text;
        break;
      case 'escape':
        out += t.text.slice(1);
        break;
      case 'escapeEnd':
        break;
      case 'squote':
      case 'dquote': {
        const q = t.text[0];
        const s = t.text;
        for (let i = 1; i < s.length; i++) {
          const c = s[i]!;
          if (c === '\\') {
            if (i + 1 < s.length) out += s[++i];
          } else if (c === q) {
            break;
          } else {
            out += c;
          }
        }
        break;
      }
      default:
        assert.fail(`unexpected flag token ${t.type}`);
    }
  }
  // Go appends rune(byte) per byte: the Latin-1 reading of the bytes, which is
  // exactly what the byte string already is as a JS string.
  return out;
}

function tokEnd(t: Tok): number {
  return t.offset + t.text.length;
}

/**
 * Build the node for `text` (the logical line), which sits at `span.base` in
 * `span.line`. ONBUILD triggers nest (`ONBUILD ONBUILD ...`, as deep as the line
 * is long): they are built in a loop, not by recursion.
 */
export function buildInstruction(
  ctx: InstructionContext,
  span: Span,
  text: ByteString,
  comments: string[],
): InstructionNode {
  // Pieces of an ASCII line are ASCII: decoding them is the identity. Checked
  // once here, not once per nested trigger (which would be quadratic).
  const decode = /^[\x00-\x7f]*$/.test(text) ? (s: ByteString): string => s : decodeByteString;
  const top = buildOne(ctx, span, text, comments, decode);
  let node = top.node;
  let next = top.trigger;
  while (next) {
    const inner = buildOne(ctx, next.span, next.text, [], decode);
    node.trigger = inner.node;
    node = inner.node;
    next = inner.trigger;
  }
  return top.node;
}

function buildOne(
  ctx: InstructionContext,
  span: Span,
  text: ByteString,
  comments: string[],
  decode: (s: ByteString) => string,
): { node: InstructionNode; trigger: { span: Span; text: ByteString } | undefined } {
  const { grammars, src } = ctx;
  const a = leftSpaceEnd(text);
  const b = rightSpaceStart(text, a);
  const trimmed = text.slice(a, b);
  const at = (i: number): number => span.base + a + i; // trimmed index → logical index
  const rangeOf = (i: number, j: number): SourceRange => logicalRange(src, span.line, at(i), at(j));

  const parsed = grammars.parseInstruction(trimmed);
  if (!parsed.ok) {
    // The instruction grammar accepts every line; reaching this is a grammar bug,
    // reported at the token anyway so the user sees where.
    const { offset, text: tokText } = parsed.failure;
    throw syntaxError(ctx, `unexpected ${JSON.stringify(displayByteString(tokText))}`, rangeOf(offset, offset + Math.max(1, tokText.length)));
  }
  const cst = parsed.value;
  const keywordBytes = cst.keyword?.text ?? '';
  const keywordStart = cst.keyword?.offset ?? 0;
  const keywordEnd = keywordStart + keywordBytes.length;
  const keyword = decode(goToLower(keywordBytes));

  const flags: FlagNode[] = [];
  let restStart = cst.rest ? cst.rest.offset : trimmed.length;
  for (const word of cst.flags) {
    const textValue = flagWordText(word);
    const first = word.tokens[0]!;
    const last = word.tokens[word.tokens.length - 1]!;
    if (textValue === '--') {
      restStart = tokEnd(last);
      break;
    }
    const body = textValue.slice(2);
    const eq = body.indexOf('=');
    flags.push({
      text: textValue,
      name: eq < 0 ? body : body.slice(0, eq),
      value: eq < 0 ? undefined : body.slice(eq + 1),
      range: rangeOf(first.offset, tokEnd(last)),
    });
  }
  const afterRest = trimmed.slice(restStart);
  const argStart = restStart + leftSpaceEnd(afterRest);
  const argEnd = restStart + rightSpaceStart(afterRest, argStart - restStart);
  const args = trimmed.slice(argStart, argEnd);
  const argRange = rangeOf(argStart, argEnd);

  const argSpan: Span = { line: span.line, base: at(argStart) };
  const nodes = parseArgs(ctx, keyword, args, argSpan, argRange);

  const node: InstructionNode = {
    keyword,
    keywordText: decode(keywordBytes),
    flags,
    args: nodes.args.map(decode),
    json: nodes.json,
    heredocs: [],
    original: decode(text),
    argText: decode(args),
    comments,
    range: rangeOf(keywordStart, trimmed.length),
    keywordRange: rangeOf(keywordStart, keywordEnd),
    argRange,
  };
  return { node, trigger: nodes.trigger };
}

function parseArgs(
  ctx: InstructionContext,
  keyword: string,
  rest: ByteString,
  span: Span,
  argRange: SourceRange,
): ArgNodes {
  const rangeOf = (i: number, j: number): SourceRange => logicalRange(ctx.src, span.line, span.base + i, span.base + j);

  const maybeJson = (text: ByteString, offset: number): { args: ByteString[]; json: boolean } | undefined => {
    const r = parseJsonArray(ctx.grammars, text);
    if (r.kind === 'array') return { args: r.elements.map((e) => e.value), json: true };
    if (r.kind === 'not-strings') throw syntaxError(ctx, JSON_NOT_STRINGS, rangeOf(offset + r.start, offset + r.end));
    return undefined;
  };
  const parseMaybeJson = (text: ByteString, offset: number): ArgNodes => {
    if (text === '') return { args: [], json: false };
    return maybeJson(text, offset) ?? { args: [text], json: false };
  };

  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJson(rest, 0) ?? { args: splitWhitespace(rest).map((w) => w.text), json: false };
    case 'arg':
      return { args: splitWords(rest, ctx.escapeToken).map((w) => w.text), json: false };
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return parseMaybeJson(rest, 0);
    case 'env':
    case 'label':
      return { args: parseNameVal(ctx, rest, NAME_VALUE_KEYS[keyword]!, rangeOf, argRange), json: false };
    case 'expose':
    case 'from':
      return { args: splitWhitespace(rest).map((w) => w.text), json: false };
    case 'healthcheck': {
      let sep = 0;
      while (sep < rest.length && !isSpaceRune(rest.charCodeAt(sep))) sep++;
      let next = sep;
      while (next < rest.length && isSpaceRune(rest.charCodeAt(next))) next++;
      if (sep === 0) return { args: [], json: false };
      const cmd = parseMaybeJson(rest.slice(next), next);
      return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
    }
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'onbuild': {
      if (rest === '') return { args: [], json: false };
      return { args: [], json: false, trigger: { span, text: rest } };
    }
    default:
      return { args: [''], json: false };
  }
}

/** BuildKit's parseNameVal for ENV and LABEL. */
function parseNameVal(
  ctx: InstructionContext,
  rest: ByteString,
  key: string,
  rangeOf: (i: number, j: number) => SourceRange,
  argRange: SourceRange,
): ByteString[] {
  const words = splitWords(rest, ctx.escapeToken);
  if (words.length === 0) return [];
  if (!words[0]!.text.includes('=')) {
    const parts = splitWhitespace(rest, 2);
    if (parts.length < 2) throw syntaxError(ctx, `${key} must have two arguments`, argRange);
    return [parts[0]!.text, parts[1]!.text, ''];
  }
  const out: ByteString[] = [];
  for (const w of words) {
    const eq = w.text.indexOf('=');
    if (eq < 0) {
      throw syntaxError(
        ctx,
        `Syntax error - can't find = in ${goQuoteBytes(w.text)}. Must be of the form: name=value`,
        rangeOf(w.start, w.end),
      );
    }
    out.push(w.text.slice(0, eq), w.text.slice(eq + 1), '=');
  }
  return out;
}
