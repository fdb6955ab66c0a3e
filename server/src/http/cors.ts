/**
 * CORS for the browser origins named in ALLOWED_ORIGINS (none by default): they may call REST, tRPC
 * over HTTP and the SSE log stream with a credential header. The API uses no cookies, so no
 * `Access-Control-Allow-Credentials`: a page sends its key or JWT in `Authorization` itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from './respond';

const ALLOW_HEADERS = 'Authorization, X-API-Key, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id';
/** What a page may read of an answer besides the simple headers. */
const EXPOSE_HEADERS = 'Retry-After, X-Request-Id, Content-Range, Accept-Ranges, Allow';
const MAX_AGE_S = '600';

/**
 * Adds the CORS headers for an allowed origin, and answers a preflight (OPTIONS with
 * Access-Control-Request-Method): 204 for an allowed origin, 403 for any other. Answers whether the
 * request has been answered.
 */
export function handleCors(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  const ok = allowed.includes(origin);
  if (ok) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS);
  }
  res.setHeader('Vary', 'Origin');
  if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
  if (!ok) {
    sendError({ res, status: 403, message: `origin ${origin} is not allowed (ALLOWED_ORIGINS)` });
    return true;
  }
  res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE', 'Access-Control-Allow-Headers': ALLOW_HEADERS, 'Access-Control-Max-Age': MAX_AGE_S });
  res.end();
  return true;
}
