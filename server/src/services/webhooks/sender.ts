/**
 * One attempt at a delivery: a signed POST through node:http(s), with the address guard as its DNS
 * lookup (see addressGuard.ts), no redirects followed, no proxy, a timeout on the whole exchange, and
 * the answer's body read (bounded) and dropped. Answers the status, or why there was none.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressGuard } from './addressGuard';
import { SIGNATURE_HEADER, signature } from './signature';

/** What is read of an answer's body before the connection is dropped: receivers' answers are not kept. */
const ANSWER_READ_BYTES = 64 * 1024;

export interface Attempt {
  url: string;
  secret: string;
  deliveryId: string;
  event: string;
  body: string;
  /** Aborts the attempt (the server stops): it ends at once, as failed. */
  signal?: AbortSignal;
}

export interface AttemptOutcome {
  status: number | null;
  /** Why it did not succeed (null on a 2xx). */
  error: string | null;
}

export interface SenderOptions {
  guard: AddressGuard;
  timeoutMs: number;
  userAgent: string;
  /** Seconds since the epoch, for the signature (a test's clock may differ). */
  nowS?: () => number;
}

export function createSender(options: SenderOptions): (attempt: Attempt) => Promise<AttemptOutcome> {
  const nowS = options.nowS ?? (() => Math.floor(Date.now() / 1000));
  return async (attempt) => {
    let url: URL;
    try {
      url = new URL(attempt.url);
      options.guard.checkLiteral(url);
    } catch (e) {
      return { status: null, error: (e as Error).message };
    }
    const body = Buffer.from(attempt.body);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': options.userAgent,
      'x-oss-runner-event': attempt.event,
      'x-oss-runner-delivery': attempt.deliveryId,
      [SIGNATURE_HEADER]: signature(attempt.secret, attempt.body, nowS()),
    };
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise<AttemptOutcome>((resolve) => {
      const req = request(url, { method: 'POST', headers, lookup: options.guard.lookup, agent: false, signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(attempt.signal ? [attempt.signal] : [])]) }, (res) => {
        const status = res.statusCode ?? null;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > ANSWER_READ_BYTES) res.destroy();
        });
        const done = () => resolve({ status, error: status !== null && status >= 200 && status < 300 ? null : `the receiver answered ${status}` });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      });
      req.on('error', (e: Error) => {
        const stopped = attempt.signal?.aborted ? 'the server stopped during the attempt' : `no answer within ${options.timeoutMs} ms`;
        resolve({ status: null, error: e.name === 'AbortError' ? stopped : e.message });
      });
      req.end(body);
    });
  };
}
