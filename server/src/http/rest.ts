/**
 * The REST API: trpc-to-openapi serving the same procedures as tRPC on the seed's paths. This adapter
 * makes its edges behave: a body-less POST (`curl -X POST`) is an empty JSON object, a body past the
 * limit is a 413, a body that is not JSON a 415, and every error is `{message, code, issues?}` with
 * a message that names the field at fault.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createOpenApiFetchHandler } from 'trpc-to-openapi';
import type { ApiError } from '../../../shared/src/schemas/error';
import type { AppRouter } from '../routers';
import type { Context, ContextOptions } from '../trpc/context';
import { BodyTooLargeError, readBody, sendError, sendJson } from './respond';

interface ZodIssueLike {
  path?: PropertyKey[];
  message?: string;
  /** Set on "unrecognized_keys" issues: the fields nobody asked for. */
  keys?: string[];
}

function fieldOf(issue: ZodIssueLike): string {
  const path = [...(issue.path ?? []), ...(issue.keys ?? [])].map(String);
  return path.length ? path.join('.') : '(body)';
}

/** The error body the API promises, from whatever trpc-to-openapi produced. */
export function normalizeError(raw: Record<string, unknown>, status: number): ApiError {
  const code = typeof raw.code === 'string' ? raw.code : 'ERROR';
  const issues = Array.isArray(raw.issues) ? (raw.issues as ZodIssueLike[]) : undefined;
  if (issues?.length) {
    const listed = issues.map((i) => ({ path: fieldOf(i), message: i.keys ? 'unknown field' : (i.message ?? 'invalid') }));
    return { message: listed.map((i) => `${i.path}: ${i.message}`).join('; '), code, issues: listed };
  }
  let message = typeof raw.message === 'string' ? raw.message : 'error';
  if (status >= 500) message = 'internal server error';
  if (code === 'PARSE_ERROR') message = 'body: not valid JSON';
  return { message, code: code === 'PARSE_ERROR' ? 'BAD_REQUEST' : code };
}

export function restHandler(router: AppRouter, createContext: (opts: ContextOptions) => Promise<Context>, maxBodyBytes: number, onError: (e: unknown) => void) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value);
      else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    }
    let body: Buffer | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLargeError) return sendError(res, 413, `body: larger than ${maxBodyBytes} bytes`);
        throw e;
      }
      if (body.length === 0) {
        // `curl -X POST` sends neither a body nor a Content-Type: that is an empty JSON object.
        body = Buffer.from('{}');
        headers.set('content-type', 'application/json');
      } else if (!/^application\/json\b/i.test(headers.get('content-type') ?? '')) {
        return sendError(res, 415, `body: Content-Type must be application/json (got ${headers.get('content-type') ?? 'none'})`);
      }
    }
    const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
    const request = new Request(url, { method, headers, ...(body ? { body: new Uint8Array(body) } : {}) });
    const response = await createOpenApiFetchHandler<AppRouter>({
      endpoint: '/',
      router,
      req: request,
      createContext: ({ req: r }) => createContext({ req: r, ip: req.socket.remoteAddress }),
      onError: ({ error }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR') onError(error);
      },
    });
    const text = await response.text();
    if (response.status < 400) {
      res.writeHead(response.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    let raw: Record<string, unknown> = {};
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: fall back to the status alone
    }
    const retryAfterS = (raw.data as { retryAfterS?: unknown } | undefined)?.retryAfterS;
    sendJson(res, response.status, normalizeError(raw, response.status), typeof retryAfterS === 'number' ? { 'Retry-After': String(retryAfterS) } : {});
  };
}
