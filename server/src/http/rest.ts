/**
 * The REST API: trpc-to-openapi serving the same procedures as tRPC on the seed's paths. This adapter
 * makes its edges behave: a body-less POST (`curl -X POST`) is an empty JSON object, a body past the
 * limit is a 413, a body that is not JSON a 415, malformed JSON or JSON that is not an object a 400,
 * and every error is `{message, code, issues?}` with a message that names each field at fault.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createOpenApiNodeHttpHandler } from 'trpc-to-openapi';
import type { ApiError, ApiIssue } from '../../../shared/src/schemas/error';
import type { AppRouter } from '../routers';
import type { Context, ContextOptions } from '../trpc/context';
import { BodyTooLargeError, readBody, sendError, sendJson } from './respond';

interface ZodIssueLike {
  path?: PropertyKey[];
  message?: string;
  code?: string;
  /** Set on "unrecognized_keys" issues: the fields nobody asked for. */
  keys?: string[];
}

const dotted = (path: PropertyKey[]) => (path.length ? path.map(String).join('.') : '(body)');

/** Each field at fault on its own: an "unrecognized_keys" issue becomes one issue per unknown field. */
function issuesOf(issues: ZodIssueLike[]): ApiIssue[] {
  return issues.flatMap((i) => {
    const path = i.path ?? [];
    if (i.code === 'unrecognized_keys' && i.keys?.length) return i.keys.map((key) => ({ path: dotted([...path, key]), message: 'unknown field' }));
    return [{ path: dotted(path), message: i.message ?? 'invalid' }];
  });
}

/** The error body the API promises, from whatever trpc-to-openapi produced. */
export function normalizeError(raw: Record<string, unknown>, status: number): ApiError {
  const code = typeof raw.code === 'string' ? raw.code : 'ERROR';
  // Input validation failed (zod's issues), or a service named the fields itself (DomainError.issues).
  const listed = Array.isArray(raw.issues) ? issuesOf(raw.issues as ZodIssueLike[]) : ((raw.data as { issues?: ApiIssue[] } | undefined)?.issues ?? []);
  if (listed.length) return { message: listed.map((i) => `${i.path}: ${i.message}`).join('; '), code, issues: listed };
  // A 503 says why (shutting down); other 5xx messages may hold internals and are not passed on.
  const message = status >= 500 && status !== 503 ? 'internal server error' : typeof raw.message === 'string' ? raw.message : 'error';
  return { message, code };
}

/** What JSON.parse gave, for a message: "null", "an array", "a number"... */
const kindOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`);

/** Deepest nesting of arrays and objects a body may have: every API input is a few levels deep. */
const MAX_JSON_DEPTH = 32;

/** Whether `value` nests arrays and objects deeper than `limit` levels (checked without recursion). */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Collects what the handler answers, so errors can be reshaped before anything is sent. */
function responseShim(res: ServerResponse) {
  let status = 200;
  const headers: Record<string, string> = {};
  let settle: (answer: { status: number; headers: Record<string, string>; body: string }) => void = () => undefined;
  const answered = new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve) => (settle = resolve));
  const shim = {
    get statusCode() {
      return status;
    },
    set statusCode(code: number) {
      status = code;
    },
    setHeader: (name: string, value: string | string[]) => {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    },
    end: (body?: string) => settle({ status, headers, body: body ?? '' }),
    // What trpc-to-openapi's abort signal listens to: the real response.
    once: (event: string, listener: () => void) => res.once(event, listener),
    off: (event: string, listener: () => void) => res.off(event, listener),
    get writableEnded() {
      return res.writableEnded;
    },
  };
  return { shim: shim as unknown as ServerResponse, answered };
}

export interface RestHandlerOptions {
  router: AppRouter;
  createContext: (opts: ContextOptions) => Promise<Context>;
  /** Larger bodies are refused (413) before they are parsed. */
  maxBodyBytes: number;
  /** Told of internal errors (500s). */
  onError: (e: unknown) => void;
}

export function restHandler({ router, createContext, maxBodyBytes, onError }: RestHandlerOptions) {
  // Built once: building it (per request, as its fetch adapter does) validates the whole router again.
  const handler = createOpenApiNodeHttpHandler<AppRouter, IncomingMessage, ServerResponse>({
    router,
    createContext: ({ req }) => createContext({ req }),
    maxBodySize: maxBodyBytes,
    onError: ({ error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') onError(error);
    },
  });

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    // GET, HEAD and DELETE take their input from the path and the query (as trpc-to-openapi reads them).
    if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
      let body: Buffer;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLargeError) return sendError({ res, status: 413, message: `body: larger than ${maxBodyBytes} bytes` });
        throw e;
      }
      const type = req.headers['content-type'] ?? '';
      if (body.length === 0) {
        // `curl -X POST` sends neither a body nor a Content-Type: that is an empty JSON object.
        req.headers['content-type'] = 'application/json';
        (req as IncomingMessage & { body?: unknown }).body = {};
      } else if (!/^application\/json\b/i.test(type)) {
        return sendError({ res, status: 415, message: `body: Content-Type must be application/json (got ${type || 'none'})` });
      } else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          return sendError({ res, status: 400, message: 'body: not valid JSON' });
        }
        // Spread into the input, `null`, `5`, `true` or `[]` would become `{}`: a start with no parameters.
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return sendError({ res, status: 400, message: `body: must be a JSON object, not ${kindOf(parsed)}` });
        // What the handler does next (serialising the body again) would overflow the stack on 10,000 levels.
        if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) return sendError({ res, status: 400, message: `body: nested deeper than ${MAX_JSON_DEPTH} levels` });
        // trpc-to-openapi compares the type case-sensitively, without parameters of its own.
        req.headers['content-type'] = 'application/json';
        (req as IncomingMessage & { body?: unknown }).body = parsed;
      }
    }
    const { shim, answered } = responseShim(res);
    await handler(req, shim);
    const answer = await answered;
    if (answer.status < 400) {
      res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
      return;
    }
    let raw: Record<string, unknown> = {};
    try {
      raw = JSON.parse(answer.body) as Record<string, unknown>;
    } catch {
      // not JSON: fall back to the status alone
    }
    const retryAfterS = (raw.data as { retryAfterS?: unknown } | undefined)?.retryAfterS;
    sendJson({ res, status: answer.status, body: normalizeError(raw, answer.status), headers: typeof retryAfterS === 'number' ? { 'Retry-After': String(retryAfterS) } : {} });
  };
}
