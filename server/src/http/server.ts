/**
 * The one HTTP server: routes by an explicit prefix table to tRPC (HTTP and WebSocket), the SSE and
 * raw-log routes, the API docs, the web app, and last the REST API (trpc-to-openapi answers 404 for
 * whatever is left). A path the OpenAPI document lists, asked with a method it does not, is a 405.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { WebSocketServer } from 'ws';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { badRequest, DomainError } from '../errors';
import { appRouter } from '../routers';
import type { Services } from '../services';
import { contextFactory } from '../trpc/context';
import { JsonWebSocket, wsEncoder } from '../trpc/wsEncoder';
import { allowedMethods, docsHandler, openApiDocument } from './docs';
import { authorizeHeader } from './auth';
import { plainIp } from './clientIp';
import { handleCors } from './cors';
import { serveArtifact, serveRawLog } from './runFiles';
import { sendError, sendJson, sendThrown } from './respond';
import { restHandler } from './rest';
import { serveLogStream } from './sse';
import { webAppHandler } from './webApp';

/** The caller's X-Request-Id when it is a sensible one (a proxy's), else a new one. */
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

export async function sendMetrics(res: ServerResponse, metrics: Metrics): Promise<void> {
  const text = await metrics.text();
  res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** METRICS_PORT: /metrics alone, open to whoever can reach that address (keep it on a private one). */
export function createMetricsServer(metrics: Metrics, onError: (e: unknown) => void): http.Server {
  return http.createServer((req, res) => {
    if ((req.url ?? '/').split('?', 1)[0] !== '/metrics') return sendError({ res, status: 404, message: 'only /metrics is served here' });
    sendMetrics(res, metrics).catch((e: unknown) => sendThrown(res, e, onError));
  });
}

/** A percent-decoded path segment; malformed escapes are a 400, not a crash. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`path: "${segment}" is not a valid percent-encoded segment`);
  }
}

const RUN_ROUTE = /^\/runs\/([^/]+)\/(?:(logs|log)|artifacts\/([^/]+))$/;

export interface HttpApp {
  server: http.Server;
  /** Tells WebSocket clients to reconnect and closes their connections (new ones are refused while stopping). */
  sendClientsAway(): void;
  /** Closes every WebSocket and stops accepting connections. */
  close(): Promise<void>;
}

export function createHttpApp(config: Config, services: Services, logger: Logger): HttpApp {
  const onError = (e: unknown) => logger.error({ err: e }, 'request failed');
  const createContext = contextFactory(services);
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext,
    basePath: '/trpc/',
    maxBodySize: config.MAX_BODY_BYTES,
    maxBatchSize: config.TRPC_MAX_BATCH,
    onError: ({ error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') onError(error);
    },
    responseMeta: ({ errors }) => {
      const retryAfterS = errors.map((e) => (e.cause instanceof DomainError ? e.cause.retryAfterS : undefined)).find(Boolean);
      return retryAfterS ? { headers: { 'Retry-After': String(retryAfterS) } } : {};
    },
  });
  const rest = restHandler({ router: appRouter, createContext, maxBodyBytes: config.MAX_BODY_BYTES, onError });
  const docs = docsHandler();
  const web = webAppHandler(config.WEB_DIST);
  const document = openApiDocument(appRouter, { title: config.APP_NAME, version: services.version }, services.catalog.list());
  const openapi = JSON.stringify(document);
  const allowed = allowedMethods(document);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const pathname = url.split('?', 1)[0] ?? '/';
    const method = req.method ?? 'GET';
    if (pathname === '/trpc' || pathname.startsWith('/trpc/')) return trpc(req, res);
    const allow = allowed(pathname);
    if (allow && !allow.includes(method)) return sendError({ res, status: 405, message: `method ${method} not allowed on ${pathname} (allowed: ${allow.join(', ')})`, headers: { Allow: allow.join(', ') } });
    const runRoute = RUN_ROUTE.exec(pathname);
    if (runRoute) {
      const request = { req, res, runId: decodeSegment(runRoute[1] ?? ''), services, onError };
      if (runRoute[3] !== undefined) return serveArtifact(request, decodeSegment(runRoute[3]));
      if (runRoute[2] === 'logs') return serveLogStream(request, config.SSE_HEARTBEAT_S * 1000);
      return serveRawLog(request);
    }
    if (pathname === '/metrics' && (method === 'GET' || method === 'HEAD')) {
      await authorizeHeader(req, config.METRICS_ROLE, services);
      return sendMetrics(res, services.metrics);
    }
    if (pathname === '/ready' && (method === 'GET' || method === 'HEAD')) {
      const readiness = await services.readiness();
      // Shutting down: a load balancer must stop sending work here at once.
      if (services.stopping.aborted) return sendJson({ res, status: 503, body: { ...readiness, ready: false, stopping: true } });
      return sendJson({ res, status: readiness.ready ? 200 : 503, body: readiness });
    }
    if (pathname === '/openapi.json') return sendJson({ res, status: 200, body: JSON.parse(openapi) });
    if (pathname === '/docs' || pathname.startsWith('/docs/')) return docs(req, res, pathname);
    if (pathname === '/ui' || pathname.startsWith('/ui/')) return web(req, res, pathname);
    if (pathname === '/' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(302, { Location: '/ui/' });
      res.end();
      return;
    }
    return rest(req, res);
  }

  // Slow headers are checked every second (Node's default, 30 s, let a slowloris hold a connection
  // for up to HTTP_HEADERS_TIMEOUT_S + 30 s).
  const timeouts = { headersTimeout: config.HTTP_HEADERS_TIMEOUT_S * 1000, connectionsCheckingInterval: 1000 };
  const server = http.createServer(timeouts, (req, res) => {
    const started = performance.now();
    const id = requestId(req);
    // Read now: once the connection is gone (a body refused half-way, a client that vanished) the
    // request no longer has its socket.
    const ip = services.clientIp(req);
    res.setHeader('X-Request-Id', id);
    // One line per request when it is over (for a stream: when it closes). The path only: a query
    // string may hold a log token.
    res.once('close', () => {
      services.metrics.request(req.method ?? 'GET', res.statusCode);
      logger.info({ req_id: id, method: req.method, path: (req.url ?? '/').split('?', 1)[0], status: res.statusCode, ms: Math.round(performance.now() - started), ip }, 'request');
    });
    if (handleCors(req, res, config.ALLOWED_ORIGINS)) return;
    route(req, res).catch((e: unknown) => sendThrown(res, e, onError));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.MAX_BODY_BYTES, WebSocket: JsonWebSocket });
  // One connection sends at most WS_MESSAGES_PER_MINUTE messages a minute; past it, it is closed (1008).
  wss.on('connection', (ws: JsonWebSocket) => {
    let windowStart = Date.now();
    let count = 0;
    ws.on('message', () => {
      if (Date.now() - windowStart >= 60_000) [windowStart, count] = [Date.now(), 0];
      if (++count > config.WS_MESSAGES_PER_MINUTE) ws.close(1008, 'too many messages');
    });
  });
  const wsHandler = applyWSSHandler({ wss, router: appRouter, createContext, experimental_encoder: wsEncoder, keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 10_000 } });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    const refuse = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (pathname !== '/trpc') return refuse(404, 'Not Found');
    // Shutting down: the client's reconnection loop tries again until a server takes it.
    if (services.stopping.aborted) return refuse(503, 'Service Unavailable');
    if (!originAllowed(req, config.ALLOWED_ORIGINS, config.TRUSTED_PROXIES)) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  /** Tells WebSocket clients to reconnect (elsewhere, or here once restarted) and closes their connections. */
  const sendClientsAway = () => {
    wsHandler.broadcastReconnectNotification();
    for (const client of wss.clients) client.close(1001, 'server shutting down');
  };

  return {
    server,
    sendClientsAway,
    async close() {
      sendClientsAway();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => (server.closeAllConnections(), resolve()), 2000).unref();
      });
    },
  };
}

/**
 * Browsers always send Origin on a WebSocket: it must be this server's own (scheme and host) or a
 * configured one. The scheme is http, or https when a trusted proxy (TRUSTED_PROXIES) says so with
 * X-Forwarded-Proto. Clients that send none (curl, Node) are not refused for it.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[], trustedProxies: readonly string[] = []): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (allowed.includes(origin)) return true;
  const peer = plainIp(req.socket.remoteAddress ?? '');
  const forwarded = trustedProxies.map(plainIp).includes(peer) ? String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() : undefined;
  const scheme = forwarded === 'https' ? 'https:' : 'http:';
  try {
    const url = new URL(origin);
    return url.protocol === scheme && url.host === req.headers.host;
  } catch {
    return false;
  }
}
