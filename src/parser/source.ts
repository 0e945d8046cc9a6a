/**
 * The source as bytes and as text, physical lines, and the mapping from byte
 * offsets to SourcePositions (1-based line/column in UTF-16 code units, 0-based
 * UTF-16 offset into the decoded, BOM-stripped source).
 */
import type { SourcePosition, SourceRange } from '../errors.js';
import type { ByteString } from './bytes.js';
import { bytesToByteString, decodeByteString, decodeRune } from './bytes.js';

/** One physical line: byte offsets into the source. */
export interface PhysicalLine {
  /** First byte of the line. */
  start: number;
  /** End of the content: trailing `\r`/`\n` characters removed. */
  contentEnd: number;
  /** End of the line including its line ending. */
  end: number;
}

/** bufio.MaxScanTokenSize: a line, including its `\n`, fits in 64 KiB. */
export const MAX_LINE_BYTES = 64 * 1024;

/** BuildKit's message for an over-long line. */
export const LINE_TOO_LONG = `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`;

const BOM = '\xef\xbb\xbf';

/** Turn parser input into a byte string (strings are UTF-8 encoded; lone surrogates become U+FFFD). */
export function inputToByteString(source: string | Uint8Array): ByteString {
  if (typeof source === 'string') {
    // Buffer encodes lone surrogates as U+FFFD, one UTF-16 unit each: offsets stay aligned.
    return Buffer.from(source, 'utf8').toString('latin1');
  }
  return bytesToByteString(source);
}

/** A Dockerfile's text with its line table and position mapping. */
export class SourceText {
  /** The BOM-stripped source as a byte string. */
  readonly bytes: ByteString;
  /** The decoded source (what ranges index into). */
  readonly text: string;
  /** Number of BOM bytes that were removed (0 or 3). */
  readonly bomLength: number;
  readonly lines: PhysicalLine[];
  private readonly u16Start: Uint32Array;
  private readonly u16End: Uint32Array;
  private readonly lineStartU16: number[];

  constructor(raw: ByteString) {
    this.bomLength = raw.startsWith(BOM) ? 3 : 0;
    const bytes = raw.slice(this.bomLength);
    this.bytes = bytes;
    this.text = decodeByteString(bytes);
    const n = bytes.length;
    this.u16Start = new Uint32Array(n + 1);
    this.u16End = new Uint32Array(n + 1);
    let pos = 0;
    let u = 0;
    while (pos < n) {
      const w = decodeRune(bytes, pos)[1];
      const units = w === 4 ? 2 : 1; // supplementary characters take two UTF-16 units
      for (let k = 0; k < w; k++) {
        this.u16Start[pos + k] = u;
        this.u16End[pos + k] = u + units;
      }
      pos += w;
      u += units;
    }
    this.u16Start[n] = u;
    this.u16End[n] = u;

    this.lines = [];
    this.lineStartU16 = [];
    let start = 0;
    while (start < n) {
      const nl = bytes.indexOf('\n', start);
      const end = nl < 0 ? n : nl + 1;
      let contentEnd = end;
      while (contentEnd > start) {
        const c = bytes.charCodeAt(contentEnd - 1);
        if (c === 0x0a || c === 0x0d) contentEnd--;
        else break;
      }
      this.lines.push({ start, contentEnd, end });
      this.lineStartU16.push(this.u16Start[start]!);
      start = end;
    }
  }

  /** Byte length of physical line `i` as BuildKit's scanner saw it (the BOM counts on line 0). */
  scannedLength(i: number): number {
    const line = this.lines[i]!;
    return line.end - line.start + (i === 0 ? this.bomLength : 0);
  }

  /** Index of the first physical line that is too long for BuildKit's scanner, or -1. */
  firstTooLongLine(): number {
    for (let i = 0; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      const hasNewline = line.end > line.start && this.bytes.charCodeAt(line.end - 1) === 0x0a;
      const limit = hasNewline ? MAX_LINE_BYTES : MAX_LINE_BYTES - 1;
      if (this.scannedLength(i) > limit) return i;
    }
    return -1;
  }

  private lineIndexOfByte(offset: number): number {
    let lo = 0;
    let hi = this.lines.length - 1;
    if (hi < 0) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lines[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private positionAt(offset: number, u16: number): SourcePosition {
    const li = this.lineIndexOfByte(offset);
    if (li < 0) return { line: 1, column: 1, offset: 0 };
    // An offset past the end of a line's content but inside its line ending stays on that line.
    return { line: li + 1, column: u16 - this.lineStartU16[li]! + 1, offset: u16 };
  }

  /** Position of the character containing byte `offset` (offset may equal the length). */
  position(offset: number): SourcePosition {
    const o = Math.max(0, Math.min(offset, this.bytes.length));
    return this.positionAt(o, this.u16Start[o]!);
  }

  /** Position just after the character containing byte `endExclusive - 1`. */
  endPosition(endExclusive: number, start = 0): SourcePosition {
    const e = Math.max(0, Math.min(endExclusive, this.bytes.length));
    if (e <= start) return this.position(start);
    const last = e - 1;
    return this.positionAt(last, this.u16End[last]!);
  }

  /** Range over bytes [start, end). */
  range(start: number, end: number): SourceRange {
    return { start: this.position(start), end: this.endPosition(end, start) };
  }

  /** Range from where line `i` goes over BuildKit's limit to its end. */
  tooLongRange(i: number): SourceRange {
    const line = this.lines[i]!;
    const at = Math.min(line.contentEnd, line.start + MAX_LINE_BYTES - 1 - (i === 0 ? this.bomLength : 0));
    return this.range(at, line.contentEnd);
  }

  /** Range of a physical line's content (0-based index); a missing line gives the end of the source. */
  lineRange(i: number): SourceRange {
    const line = this.lines[i];
    if (!line) return this.range(this.bytes.length, this.bytes.length);
    return this.range(line.start, line.contentEnd);
  }
}

/**
 * A logical line: physical lines joined after continuation removal. `segments`
 * map indexes in `text` back to source bytes (each segment is contiguous).
 */
export interface LogicalLine {
  text: ByteString;
  segments: { at: number; src: number }[];
}

/** Source byte offset of index `i` of a logical line. */
export function logicalToSource(line: LogicalLine, i: number): number {
  const segs = line.segments;
  let lo = 0;
  let hi = segs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segs[mid]!.at <= i) lo = mid;
    else hi = mid - 1;
  }
  const seg = segs[lo]!;
  return seg.src + (i - seg.at);
}

/** Source byte range of logical indexes [start, end). */
export function logicalRange(src: SourceText, line: LogicalLine, start: number, end: number): SourceRange {
  const a = logicalToSource(line, start);
  if (end <= start) return src.range(a, a);
  const b = logicalToSource(line, end - 1) + 1;
  return src.range(a, b);
}

/**
 * The text that ranges in the tree and in parser errors index into: the input
 * decoded from UTF-8 (invalid bytes kept as escapes, see bytes.ts), BOM removed.
 * The CLI uses it to print code frames.
 */
export function decodeDockerfileSource(source: string | Uint8Array): string {
  return new SourceText(inputToByteString(source)).text;
}
