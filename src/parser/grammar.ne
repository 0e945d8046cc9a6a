# The Dockerfile line grammar (moo + nearley).
#
# The physical-line pre-pass (src/parser/lines.ts) turns the file into logical
# lines; this grammar gives each its structure. Three start symbols share the
# rules below, each with its own moo lexer (see `lexers`):
#
#   instruction    a trimmed logical line: keyword, flag words, argument text
#   jsonArray      the exec form: a JSON document that must be an array
#   heredocMarker  one shell word: [fd]<<[-][blanks]name
#
# All input is a "byte string" (one char per byte, see bytes.ts), so the
# character classes below are byte classes, as in BuildKit's Go code.
#
# Regenerate with `npm run grammar` (nearleyc). The postprocessors only build
# plain objects; semantics live in instruction.ts, json.ts and heredoc.ts.

@preprocessor typescript

@{%
import { createRequire } from 'node:module';

// Byte-wise unicode.IsSpace (Go's extractBuilderFlags looks at single bytes,
// so NEL 0x85 and NBSP 0xA0 bytes separate flag words).
const flagSpace = /[\t\n\v\f\r \x85\xa0]+/;

/**
 * Fresh moo lexers, one per start symbol (moo lexers are stateful, so every
 * parse context makes its own).
 */
export function createLexers() {
  // moo (CommonJS) loads with the first lexers, not when ocibuild is imported (issue 8: start-up).
  const moo = createRequire(import.meta.url)('moo') as typeof import('moo');
  return {
  instruction: moo.states({
    main: {
      keyword: { match: /[^\t\v\f\r ]+/, lineBreaks: true },
      sep: { match: /[\t\v\f\r ]+/, next: 'wordStart' },
    },
    wordStart: {
      ws: { match: flagSpace, lineBreaks: true },
      dashdash: { match: '--', next: 'flag' },
      rest: { match: /[^]+/, lineBreaks: true },
    },
    flag: {
      fws: { match: flagSpace, lineBreaks: true, next: 'wordStart' },
      squote: { match: /'(?:[^'\\]|\\[^])*(?:'|\\?(?![^]))/, lineBreaks: true },
      dquote: { match: /"(?:[^"\\]|\\[^])*(?:"|\\?(?![^]))/, lineBreaks: true },
      escape: { match: /\\[^]/, lineBreaks: true },
      escapeEnd: /\\(?![^])/,
      text: /[^\t\n\v\f\r \x85\xa0'"\\]+/,
    },
  }),
  json: moo.compile({
    jws: { match: /[ \t\n\r]+/, lineBreaks: true },
    lbracket: '[',
    rbracket: ']',
    lbrace: '{',
    rbrace: '}',
    colon: ':',
    comma: ',',
    string: /"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/,
    number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
    jtrue: 'true',
    jfalse: 'false',
    jnull: 'null',
    invalid: moo.error,
  }),
  heredocMarker: moo.states({
    start: {
      fd: /[0-9]+/,
      op: { match: '<<', next: 'afterOp' },
      bad: moo.error,
    },
    afterOp: {
      chomp: { match: '-', next: 'afterChomp' },
      blank: { match: /[\t\n\f\r ]+/, lineBreaks: true, next: 'name' },
      name: { match: /[^<]+/, lineBreaks: true, next: 'done' },
      bad: moo.error,
    },
    afterChomp: {
      blank: { match: /[\t\n\f\r ]+/, lineBreaks: true, next: 'name' },
      name: { match: /[^<]+/, lineBreaks: true, next: 'done' },
      bad: moo.error,
    },
    name: {
      name: { match: /[^<]+/, lineBreaks: true, next: 'done' },
      bad: moo.error,
    },
    done: {
      bad: moo.error,
    },
  }),
  };
}

/** A token as moo produces it. */
export interface Tok {
  type: string;
  value: string;
  text: string;
  offset: number;
}

/** A flag word: its tokens, from `--` to the last part. */
export interface FlagWordCst {
  kind: 'flag';
  tokens: Tok[];
}

/** Result of the `instruction` start symbol. */
export interface InstructionCst {
  keyword: Tok | null;
  flags: FlagWordCst[];
  /** The first argument token (`rest`), when there is one. */
  rest: Tok | null;
}

/** A JSON value with the tokens it starts and ends at. */
export type JsonCst =
  | { kind: 'string'; tok: Tok }
  | { kind: 'array'; start: Tok; end: Tok; items: JsonCst[] }
  | { kind: 'object'; start: Tok; end: Tok }
  | { kind: 'scalar'; tok: Tok };

/** Result of the `heredocMarker` start symbol. */
export interface HeredocMarkerCst {
  fd: Tok | null;
  chomp: boolean;
  name: Tok;
}

// nearleyc needs a lexer object to name token types (`%keyword` → {type: 'keyword'});
// moo's `has` is always true. This stub holds no state: LineGrammars (grammars.ts)
// runs every start symbol with fresh lexers from createLexers().
const tokenTypes = { has: (_type: string): boolean => true } as unknown as moo.Lexer;
const tok = (d: any[]): Tok => d[0] as Tok;
const nil = (): null => null;

// Lists are built as immutable cons cells (newest first) and turned into an
// array once: appending to a copied array in each postprocessor is quadratic.
interface Cons<T> {
  prev: Cons<T> | null;
  item: T;
}
const cons = <T>(prev: Cons<T> | null, item: T): Cons<T> => ({ prev, item });
function listToArray<T>(list: Cons<T> | null): T[] {
  const out: T[] = [];
  for (let c = list; c !== null; c = c.prev) out.push(c.item);
  return out.reverse();
}
%}

@lexer tokenTypes

# ---------------------------------------------------------------- instruction

instruction -> keywordOpt tailOpt {% (d): InstructionCst => ({ keyword: d[0], flags: d[1].flags, rest: d[1].rest }) %}

keywordOpt -> null {% nil %}
  | %keyword {% tok %}

tailOpt -> null {% () => ({ flags: [], rest: null }) %}
  | %sep wsOpt words {% (d) => d[2] %}

wsOpt -> null {% nil %}
  | %ws {% nil %}

words -> wordsList {% (d) => ({ flags: listToArray<FlagWordCst>(d[0].flags), rest: d[0].rest }) %}

wordsList -> null {% () => ({ flags: null, rest: null }) %}
  | %rest {% (d) => ({ flags: null, rest: d[0] }) %}
  | flagWord {% (d) => ({ flags: cons(null, d[0]), rest: null }) %}
  | wordsFlags %fws flagWord {% (d) => ({ flags: cons(d[0], d[2]), rest: null }) %}
  | wordsFlags %fws %rest {% (d) => ({ flags: d[0], rest: d[2] }) %}
  | wordsFlags %fws {% (d) => ({ flags: d[0], rest: null }) %}

wordsFlags -> flagWord {% (d) => cons(null, d[0]) %}
  | wordsFlags %fws flagWord {% (d) => cons(d[0], d[2]) %}

flagWord -> %dashdash flagParts {% (d): FlagWordCst => ({ kind: 'flag', tokens: [d[0], ...listToArray<Tok>(d[1])] }) %}

flagParts -> null {% nil %}
  | flagParts flagPart {% (d) => cons(d[0], d[1]) %}

flagPart -> %squote {% tok %}
  | %dquote {% tok %}
  | %escape {% tok %}
  | %escapeEnd {% tok %}
  | %text {% tok %}

# ---------------------------------------------------------------- JSON (Go encoding/json syntax)

jsonArray -> _ array _ {% (d) => d[1] %}

array -> %lbracket _ %rbracket {% (d): JsonCst => ({ kind: 'array', start: d[0], end: d[2], items: [] }) %}
  | %lbracket _ elements _ %rbracket {% (d): JsonCst => ({ kind: 'array', start: d[0], end: d[4], items: listToArray<JsonCst>(d[2]) }) %}

# a cons list: the array rule, which completes once per array, makes it an array
elements -> value {% (d) => cons(null, d[0]) %}
  | elements _ %comma _ value {% (d) => cons(d[0], d[4]) %}

value -> %string {% (d): JsonCst => ({ kind: 'string', tok: d[0] }) %}
  | %number {% (d): JsonCst => ({ kind: 'scalar', tok: d[0] }) %}
  | %jtrue {% (d): JsonCst => ({ kind: 'scalar', tok: d[0] }) %}
  | %jfalse {% (d): JsonCst => ({ kind: 'scalar', tok: d[0] }) %}
  | %jnull {% (d): JsonCst => ({ kind: 'scalar', tok: d[0] }) %}
  | array {% (d) => d[0] %}
  | object {% (d) => d[0] %}

object -> %lbrace _ %rbrace {% (d): JsonCst => ({ kind: 'object', start: d[0], end: d[2] }) %}
  | %lbrace _ members _ %rbrace {% (d): JsonCst => ({ kind: 'object', start: d[0], end: d[4] }) %}

members -> pair {% nil %}
  | members _ %comma _ pair {% nil %}

pair -> %string _ %colon _ value {% nil %}

_ -> null {% nil %}
  | %jws {% nil %}

# ---------------------------------------------------------------- heredoc marker word

heredocMarker -> fdOpt %op chompOpt blankOpt %name {% (d): HeredocMarkerCst => ({ fd: d[0], chomp: d[2], name: d[4] }) %}

fdOpt -> null {% nil %}
  | %fd {% tok %}

chompOpt -> null {% () => false %}
  | %chomp {% () => true %}

blankOpt -> null {% nil %}
  | %blank {% nil %}
