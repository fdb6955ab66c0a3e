/** The REST calls of the CLI: JSON in and out, the credential on each, errors as RequestError with the server's message. */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Connection {
  /** The server's base URL, without a trailing slash. */
  url: string;
  /** An API key or JWT; none for a server with AUTH_DISABLED. */
  key: string | undefined;
}

/** The server answered with an error (`status`), or (status 0) could not be reached. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const authHeaders = (c: Connection): Record<string, string> => (c.key ? { Authorization: `Bearer ${c.key}` } : {});

/** Attempts at a request that could not reach the server or got a 502-504, and the pause before each retry. */
const RETRIES = [1000, 2000, 4000];

export interface ApiRequest {
  connection: Connection;
  method: string;
  /** From the server's base URL on: `/runs?status=running`. */
  path: string;
  /** Sent as JSON; none when undefined. */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * One request. Those safe to repeat (GETs, and a start with its Idempotency-Key) are retried a few
 * times when the server cannot be reached or its proxy answers 502-504.
 */
export async function request<T>({ connection: c, method, path, body, headers = {} }: ApiRequest): Promise<T> {
  const retry = method === 'GET' || 'Idempotency-Key' in headers;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(c.url + path, {
        method,
        headers: { ...authHeaders(c), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (retry && attempt < RETRIES.length) {
        await sleep(RETRIES[attempt]);
        continue;
      }
      throw new RequestError(0, `${c.url} cannot be reached: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const text = await res.text();
    if (res.ok) return (text ? JSON.parse(text) : null) as T;
    if (retry && res.status >= 502 && res.status <= 504 && attempt < RETRIES.length) {
      await sleep(RETRIES[attempt]);
      continue;
    }
    throw new RequestError(res.status, `${method} ${path}: ${res.status} ${messageOf(text) ?? res.statusText}`);
  }
}

/** The `message` of the API's JSON error body, when it is one. */
export function messageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    return typeof body.message === 'string' ? body.message : undefined;
  } catch {
    return text.trim().slice(0, 200) || undefined;
  }
}

/** A new Idempotency-Key: the retries of one start all get the same run. */
export const newIdempotencyKey = () => `oss-runner-cli-${randomUUID()}`;
