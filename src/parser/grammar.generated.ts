// Generated automatically by nearley, version 2.20.1
// http://github.com/Hardmath123/nearley
// Bypasses TS6133. Allow declared but unused functions.
// @ts-ignore
function id(d: any[]): any { return d[0]; }
declare var keyword: any;
declare var sep: any;
declare var ws: any;
declare var rest: any;
declare var fws: any;
declare var dashdash: any;
declare var squote: any;
declare var dquote: any;
declare var escape: any;
declare var escapeEnd: any;
declare var text: any;
declare var lbracket: any;
declare var rbracket: any;
declare var comma: any;
declare var string: any;
declare var number: any;
declare var jtrue: any;
declare var jfalse: any;
declare var jnull: any;
declare var lbrace: any;
declare var rbrace: any;
declare var colon: any;
declare var jws: any;
declare var op: any;
declare var name: any;
declare var fd: any;
declare var chomp: any;
declare var blank: any;

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

interface NearleyToken {
  value: any;
  [key: string]: any;
};

interface NearleyLexer {
  reset: (chunk: string, info: any) => void;
  next: () => NearleyToken | undefined;
  save: () => any;
  formatError: (token: never) => string;
  has: (tokenType: string) => boolean;
};

interface NearleyRule {
  name: string;
  symbols: NearleySymbol[];
  postprocess?: (d: any[], loc?: number, reject?: {}) => any;
};

type NearleySymbol = string | { literal: any } | { test: (token: any) => boolean };

interface Grammar {
  Lexer: NearleyLexer | undefined;
  ParserRules: NearleyRule[];
  ParserStart: string;
};

const grammar: Grammar = {
  Lexer: tokenTypes,
  ParserRules: [
    {"name": "instruction", "symbols": ["keywordOpt", "tailOpt"], "postprocess": (d): InstructionCst => ({ keyword: d[0], flags: d[1].flags, rest: d[1].rest })},
    {"name": "keywordOpt", "symbols": [], "postprocess": nil},
    {"name": "keywordOpt", "symbols": [(tokenTypes.has("keyword") ? {type: "keyword"} : keyword)], "postprocess": tok},
    {"name": "tailOpt", "symbols": [], "postprocess": () => ({ flags: [], rest: null })},
    {"name": "tailOpt", "symbols": [(tokenTypes.has("sep") ? {type: "sep"} : sep), "wsOpt", "words"], "postprocess": (d) => d[2]},
    {"name": "wsOpt", "symbols": [], "postprocess": nil},
    {"name": "wsOpt", "symbols": [(tokenTypes.has("ws") ? {type: "ws"} : ws)], "postprocess": nil},
    {"name": "words", "symbols": ["wordsList"], "postprocess": (d) => ({ flags: listToArray<FlagWordCst>(d[0].flags), rest: d[0].rest })},
    {"name": "wordsList", "symbols": [], "postprocess": () => ({ flags: null, rest: null })},
    {"name": "wordsList", "symbols": [(tokenTypes.has("rest") ? {type: "rest"} : rest)], "postprocess": (d) => ({ flags: null, rest: d[0] })},
    {"name": "wordsList", "symbols": ["flagWord"], "postprocess": (d) => ({ flags: cons(null, d[0]), rest: null })},
    {"name": "wordsList", "symbols": ["wordsFlags", (tokenTypes.has("fws") ? {type: "fws"} : fws), "flagWord"], "postprocess": (d) => ({ flags: cons(d[0], d[2]), rest: null })},
    {"name": "wordsList", "symbols": ["wordsFlags", (tokenTypes.has("fws") ? {type: "fws"} : fws), (tokenTypes.has("rest") ? {type: "rest"} : rest)], "postprocess": (d) => ({ flags: d[0], rest: d[2] })},
    {"name": "wordsList", "symbols": ["wordsFlags", (tokenTypes.has("fws") ? {type: "fws"} : fws)], "postprocess": (d) => ({ flags: d[0], rest: null })},
    {"name": "wordsFlags", "symbols": ["flagWord"], "postprocess": (d) => cons(null, d[0])},
    {"name": "wordsFlags", "symbols": ["wordsFlags", (tokenTypes.has("fws") ? {type: "fws"} : fws), "flagWord"], "postprocess": (d) => cons(d[0], d[2])},
    {"name": "flagWord", "symbols": [(tokenTypes.has("dashdash") ? {type: "dashdash"} : dashdash), "flagParts"], "postprocess": (d): FlagWordCst => ({ kind: 'flag', tokens: [d[0], ...listToArray<Tok>(d[1])] })},
    {"name": "flagParts", "symbols": [], "postprocess": nil},
    {"name": "flagParts", "symbols": ["flagParts", "flagPart"], "postprocess": (d) => cons(d[0], d[1])},
    {"name": "flagPart", "symbols": [(tokenTypes.has("squote") ? {type: "squote"} : squote)], "postprocess": tok},
    {"name": "flagPart", "symbols": [(tokenTypes.has("dquote") ? {type: "dquote"} : dquote)], "postprocess": tok},
    {"name": "flagPart", "symbols": [(tokenTypes.has("escape") ? {type: "escape"} : escape)], "postprocess": tok},
    {"name": "flagPart", "symbols": [(tokenTypes.has("escapeEnd") ? {type: "escapeEnd"} : escapeEnd)], "postprocess": tok},
    {"name": "flagPart", "symbols": [(tokenTypes.has("text") ? {type: "text"} : text)], "postprocess": tok},
    {"name": "jsonArray", "symbols": ["_", "array", "_"], "postprocess": (d) => d[1]},
    {"name": "array", "symbols": [(tokenTypes.has("lbracket") ? {type: "lbracket"} : lbracket), "_", (tokenTypes.has("rbracket") ? {type: "rbracket"} : rbracket)], "postprocess": (d): JsonCst => ({ kind: 'array', start: d[0], end: d[2], items: [] })},
    {"name": "array", "symbols": [(tokenTypes.has("lbracket") ? {type: "lbracket"} : lbracket), "_", "elements", "_", (tokenTypes.has("rbracket") ? {type: "rbracket"} : rbracket)], "postprocess": (d): JsonCst => ({ kind: 'array', start: d[0], end: d[4], items: listToArray<JsonCst>(d[2]) })},
    {"name": "elements", "symbols": ["value"], "postprocess": (d) => cons(null, d[0])},
    {"name": "elements", "symbols": ["elements", "_", (tokenTypes.has("comma") ? {type: "comma"} : comma), "_", "value"], "postprocess": (d) => cons(d[0], d[4])},
    {"name": "value", "symbols": [(tokenTypes.has("string") ? {type: "string"} : string)], "postprocess": (d): JsonCst => ({ kind: 'string', tok: d[0] })},
    {"name": "value", "symbols": [(tokenTypes.has("number") ? {type: "number"} : number)], "postprocess": (d): JsonCst => ({ kind: 'scalar', tok: d[0] })},
    {"name": "value", "symbols": [(tokenTypes.has("jtrue") ? {type: "jtrue"} : jtrue)], "postprocess": (d): JsonCst => ({ kind: 'scalar', tok: d[0] })},
    {"name": "value", "symbols": [(tokenTypes.has("jfalse") ? {type: "jfalse"} : jfalse)], "postprocess": (d): JsonCst => ({ kind: 'scalar', tok: d[0] })},
    {"name": "value", "symbols": [(tokenTypes.has("jnull") ? {type: "jnull"} : jnull)], "postprocess": (d): JsonCst => ({ kind: 'scalar', tok: d[0] })},
    {"name": "value", "symbols": ["array"], "postprocess": (d) => d[0]},
    {"name": "value", "symbols": ["object"], "postprocess": (d) => d[0]},
    {"name": "object", "symbols": [(tokenTypes.has("lbrace") ? {type: "lbrace"} : lbrace), "_", (tokenTypes.has("rbrace") ? {type: "rbrace"} : rbrace)], "postprocess": (d): JsonCst => ({ kind: 'object', start: d[0], end: d[2] })},
    {"name": "object", "symbols": [(tokenTypes.has("lbrace") ? {type: "lbrace"} : lbrace), "_", "members", "_", (tokenTypes.has("rbrace") ? {type: "rbrace"} : rbrace)], "postprocess": (d): JsonCst => ({ kind: 'object', start: d[0], end: d[4] })},
    {"name": "members", "symbols": ["pair"], "postprocess": nil},
    {"name": "members", "symbols": ["members", "_", (tokenTypes.has("comma") ? {type: "comma"} : comma), "_", "pair"], "postprocess": nil},
    {"name": "pair", "symbols": [(tokenTypes.has("string") ? {type: "string"} : string), "_", (tokenTypes.has("colon") ? {type: "colon"} : colon), "_", "value"], "postprocess": nil},
    {"name": "_", "symbols": [], "postprocess": nil},
    {"name": "_", "symbols": [(tokenTypes.has("jws") ? {type: "jws"} : jws)], "postprocess": nil},
    {"name": "heredocMarker", "symbols": ["fdOpt", (tokenTypes.has("op") ? {type: "op"} : op), "chompOpt", "blankOpt", (tokenTypes.has("name") ? {type: "name"} : name)], "postprocess": (d): HeredocMarkerCst => ({ fd: d[0], chomp: d[2], name: d[4] })},
    {"name": "fdOpt", "symbols": [], "postprocess": nil},
    {"name": "fdOpt", "symbols": [(tokenTypes.has("fd") ? {type: "fd"} : fd)], "postprocess": tok},
    {"name": "chompOpt", "symbols": [], "postprocess": () => false},
    {"name": "chompOpt", "symbols": [(tokenTypes.has("chomp") ? {type: "chomp"} : chomp)], "postprocess": () => true},
    {"name": "blankOpt", "symbols": [], "postprocess": nil},
    {"name": "blankOpt", "symbols": [(tokenTypes.has("blank") ? {type: "blank"} : blank)], "postprocess": nil}
  ],
  ParserStart: "instruction",
};

export default grammar;
