/**
 * Runs the nearley grammar (grammar.ne) on one piece of text. Each
 * `LineGrammars` owns fresh clones of the moo lexers, so parses never share
 * mutable state; create one per `parseDockerfile` call.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type * as nearley from 'nearley';
import compiled, {
  createLexers,
  type FlagWordCst,
  type HeredocMarkerCst,
  type InstructionCst,
  type JsonCst,
  type Tok,
} from './grammar.generated.js';

export type { FlagWordCst, HeredocMarkerCst, InstructionCst, JsonCst, Tok };

/** Where and why nearley (or moo) stopped. */
export interface GrammarFailure {
  /** Offset of the offending token in the input, or the input length at end of input. */
  offset: number;
  /** The offending token text ('' at end of input). */
  text: string;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; failure: GrammarFailure };

interface Built {
  nearley: typeof nearley;
  /** The grammar's rules, shared read-only by every parser. */
  rules: readonly nearley.Rule[];
  /** Compiled lexer templates that are only ever cloned. */
  lexers: ReturnType<typeof createLexers>;
}

// Built once, on the first parse, never mutated afterwards: nearley and moo
// (CommonJS) load then, not when ocibuild is imported (issue 8: start-up).
let built: Built | undefined;
function grammarParts(): Built {
  if (built) return built;
  const n = createRequire(import.meta.url)('nearley') as typeof nearley;
  const rules = n.Grammar.fromCompiled({
    ParserRules: compiled.ParserRules as unknown as nearley.CompiledRules['ParserRules'],
    ParserStart: compiled.ParserStart,
  }).rules;
  built = { nearley: n, rules, lexers: createLexers() };
  return built;
}

function cloneLexer(template: unknown): nearley.Lexer {
  // moo lexers have clone() (same compiled states, fresh position); @types/moo omits it.
  return (template as { clone(): nearley.Lexer }).clone();
}

function grammarFor(start: string, template: unknown): nearley.Grammar {
  const { nearley: n, rules } = grammarParts();
  const grammar = new n.Grammar(rules as nearley.Rule[]);
  grammar.start = start;
  grammar.lexer = cloneLexer(template);
  return grammar;
}

/** The three start symbols of grammar.ne, ready to run. */
export class LineGrammars {
  private readonly instruction = grammarFor('instruction', grammarParts().lexers.instruction);
  private readonly json = grammarFor('jsonArray', grammarParts().lexers.json);
  private readonly heredoc = grammarFor('heredocMarker', grammarParts().lexers.heredocMarker);

  private run<T>(grammar: nearley.Grammar, input: string): Outcome<T> {
    const parser = new (grammarParts().nearley.Parser)(grammar);
    try {
      parser.feed(input);
    } catch (e) {
      const token = (e as { token?: Tok }).token;
      if (token && typeof token.offset === 'number') {
        return { ok: false, failure: { offset: token.offset, text: token.text ?? '' } };
      }
      // moo raises a plain error for characters no rule matches; every lexer
      // state in grammar.ne has a catch-all rule, so this is our bug.
      throw e;
    }
    const { results } = parser;
    if (results.length === 0) return { ok: false, failure: { offset: input.length, text: '' } };
    assert.equal(results.length, 1, `ambiguous grammar: ${results.length} parses`);
    return { ok: true, value: results[0] as T };
  }

  /** Keyword, flag words and argument start of a trimmed logical line. */
  parseInstruction(line: string): Outcome<InstructionCst> {
    return this.run<InstructionCst>(this.instruction, line);
  }

  /** A JSON array per Go's encoding/json syntax; failure means "not JSON". */
  parseJsonArray(text: string): Outcome<JsonCst> {
    return this.run<JsonCst>(this.json, text);
  }

  /** One heredoc marker word; failure means "not a heredoc". */
  parseHeredocMarker(word: string): Outcome<HeredocMarkerCst> {
    return this.run<HeredocMarkerCst>(this.heredoc, word);
  }
}
