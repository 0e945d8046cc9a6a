/**
 * What both transports of the registry client share: response bodies that can
 * be drained (`dump()`), coded errors and the error codes of the bounded waits.
 */
import { PassThrough, type Readable } from 'node:stream';

/** Error codes of the three bounded waits (see `timeoutKind` in client.ts). */
export const CONNECT_TIMEOUT = 'ERR_REGISTRY_CONNECT_TIMEOUT';
export const HEADERS_TIMEOUT = 'ERR_REGISTRY_HEADERS_TIMEOUT';
export const BODY_TIMEOUT = 'ERR_REGISTRY_BODY_TIMEOUT';

/** A response body: a readable stream of bytes that can also be drained and discarded. */
export interface ResponseBody extends Readable {
  /**
   * Read and discard the rest of the body (so the connection can be reused);
   * a body larger than 256 KiB is cut off and its connection closed instead.
   * Never rejects.
   */
  dump(): Promise<void>;
}

const DUMP_LIMIT = 256 * 1024;

export function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export class Body extends PassThrough implements ResponseBody {
  dump(): Promise<void> {
    return new Promise((resolve) => {
      if (this.readableEnded || this.destroyed) {
        resolve();
        return;
      }
      let n = 0;
      const done = () => resolve();
      this.on('data', (c: Buffer) => {
        n += c.length;
        if (n > DUMP_LIMIT) {
          this.destroy();
          done();
        }
      });
      this.once('end', done);
      this.once('close', done);
      this.once('error', done);
      this.resume();
    });
  }
}

