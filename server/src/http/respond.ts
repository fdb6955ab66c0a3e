/** Small helpers shared by the hand-written routes: JSON answers and errors in the API's one shape. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiError } from '../../../shared/src/schemas/error';
import { asDomainError, HTTP_STATUS } from '../errors';

const CODE_OF_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_SUPPORTED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_SERVER_ERROR',
  503: 'SERVICE_UNAVAILABLE',
};

/** An answer to write: its status, and headers beside Content-Type and Content-Length. */
interface Answer {
  res: ServerResponse;
  status: number;
  headers?: Record<string, string>;
}

export function sendJson({ res, status, body, headers = {} }: Answer & { body: unknown }): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error in the API's one shape (ApiError): `message`, and the code of its status. */
export function sendError({ res, status, message, headers }: Answer & { message: string }): void {
  const body: ApiError = { message, code: CODE_OF_STATUS[status] ?? 'ERROR' };
  sendJson({ res, status, body, headers });
}

/** Answers a thrown error: a DomainError with its status and message, anything else as a 500. */
export function sendThrown(res: ServerResponse, error: unknown, log: (e: unknown) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const domain = asDomainError(error);
  if (domain) {
    return sendError({ res, status: HTTP_STATUS[domain.kind], message: domain.message, headers: domain.retryAfterS ? { 'Retry-After': String(domain.retryAfterS) } : {} });
  }
  log(error);
  sendError({ res, status: 500, message: 'internal server error' });
}

export class BodyTooLargeError extends Error {}

/** Reads a request body, refusing (413) past `limit` bytes without buffering more than that. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
