/**
 * The OpenAPI document (generated from the procedures, plus the hand-written streaming and raw-log
 * routes) and the interactive docs page, served from swagger-ui-dist's local files (no CDN).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import serveStatic from 'serve-static';
import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { ApiError } from '../../../shared/src/schemas/error';
import { Readiness } from '../../../shared/src/schemas/health';
import { LogEventId } from '../../../shared/src/schemas/logEvent';
import { RunId } from '../../../shared/src/schemas/run';
import type { Tool } from '../../../shared/src/schemas/tool';
import type { AppRouter } from '../routers';

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ApiError } } });

const runPath = z.object({ run_id: RunId });

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'An API key (osr_...) or a JWT' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key' },
} as const;
/** The log routes also take a run-bound token from POST /runs/{run_id}/log-token, for EventSource. */
const LOG_SECURITY: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }, { logToken: [] }];
const accessToken = z.object({ access_token: z.string().optional().describe('a token from POST /runs/{run_id}/log-token (for EventSource, which cannot send headers)') });

const extraPaths: ZodOpenApiPathsObject = {
  '/runs/{run_id}/logs': {
    get: {
      operationId: 'runs-logs-sse',
      security: LOG_SECURITY,
      tags: ['runs'],
      summary: "The run's log, live, as Server-Sent Events",
      description: [
        'Each event carries log lines as `data:` fields, in order (several lines per event under load), and an `id:` that is a',
        'byte offset in the run\'s output. Send an id back as `Last-Event-ID` (or `?last_event_id=`) to resume right after that',
        'event, with nothing lost or repeated. A finished run replays in full. The last event is `event: end`, whose data is',
        'the final Run as JSON; then the server closes the stream. Comment lines (`: keep-alive`) keep idle streams open.',
        'Bytes that are not UTF-8 arrive as U+FFFD; \\n, \\r\\n and \\r each end a line; very long lines are split.',
      ].join(' '),
      requestParams: {
        path: runPath,
        query: z.object({ last_event_id: LogEventId.optional() }).extend(accessToken.shape),
        header: z.object({ 'last-event-id': LogEventId.optional() }),
      },
      responses: {
        200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
        400: errorResponse('Malformed last_event_id'),
        401: errorResponse('No credential, or one that does not verify'),
        403: errorResponse('Needs the viewer role'),
        404: errorResponse('Unknown run'),
      },
    },
  },
  '/runs/{run_id}/log': {
    get: {
      operationId: 'runs-log-raw',
      security: LOG_SECURITY,
      tags: ['runs'],
      summary: 'The raw log, byte for byte (Range requests allowed)',
      requestParams: { path: runPath, query: accessToken },
      responses: {
        200: { description: 'The whole log', content: { 'text/plain': { schema: z.string() } } },
        206: { description: 'The requested range', content: { 'text/plain': { schema: z.string() } } },
        401: errorResponse('No credential, or one that does not verify'),
        403: errorResponse('Needs the viewer role'),
        404: errorResponse('Unknown run'),
      },
    },
  },
  '/ready': {
    get: {
      operationId: 'ready',
      tags: ['service'],
      summary: 'Readiness: the database answers, LOG_DIR takes a write and has READY_MIN_FREE_BYTES free',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: Readiness } } },
        503: { description: 'Not ready: the failing checks say why', content: { 'application/json': { schema: Readiness } } },
      },
    },
  },
  '/runs/{run_id}/artifacts/{name}': {
    get: {
      operationId: 'runs-artifact',
      security: LOG_SECURITY,
      tags: ['runs'],
      summary: 'One artifact of a finished run, byte for byte (Range requests allowed)',
      description: 'Only the names listed in the run\'s `artifacts` (files its tool declares) are served; the type is the listed one.',
      requestParams: { path: runPath.extend({ name: z.string().describe('an artifact name listed on the run') }), query: accessToken },
      responses: {
        200: { description: 'The file', content: { 'application/octet-stream': { schema: z.string() } } },
        206: { description: 'The requested range', content: { 'application/octet-stream': { schema: z.string() } } },
        401: errorResponse('No credential, or one that does not verify'),
        403: errorResponse('Needs the viewer role'),
        404: errorResponse('Unknown run, or no artifact of that name on it'),
      },
    },
  },
};

/**
 * One path per catalog tool (`POST /set/hello`, ...) beside the generic `/set/{name}`, so that each
 * tool's parameters are documented with their own JSON Schema.
 */
function toolPaths(tools: Tool[]): Record<string, unknown> {
  return Object.fromEntries(
    tools.map((tool) => [
      `/set/${tool.name}`,
      {
        post: {
          operationId: `start-${tool.name}`,
          tags: ['tools'],
          summary: `Start ${tool.name}`,
          description: `${tool.description}\n\nRuns \`${JSON.stringify(tool.cmd)}\` (no shell). Needs the operator role. The same as POST /set/{name} with name=${tool.name}.`,
          security: [{ bearer: [] }, { apiKey: [] }],
          requestBody: {
            required: false,
            content: { 'application/json': { schema: { type: 'object', properties: { params: tool.params }, additionalProperties: false } } },
          },
          responses: {
            200: {
              description: 'The run, started (or queued)',
              content: { 'application/json': { schema: { type: 'object', properties: { run: { $ref: '#/components/schemas/Run' } }, required: ['run'] } } },
            },
            400: { description: 'A parameter is invalid (the message names it)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
            401: { description: 'No credential, or one that does not verify' },
            403: { description: 'Needs the operator role' },
            409: { description: 'The tool is not available on this server' },
          },
        },
      },
    ]),
  );
}

export function openApiDocument(router: AppRouter, info: { title: string; version: string }, tools: Tool[] = []): OpenAPIObject {
  const doc = generateOpenApiDocument(router, {
    title: info.title,
    version: info.version,
    description:
      'Run whitelisted open-source tools, watch their output live and keep every run on record. The same procedures are served as tRPC at /trpc (HTTP and WebSocket). Roles: viewer (read runs and logs) < operator (+ start and stop) < admin (+ API keys and the audit log).',
    baseUrl: '/',
    docsUrl: '/docs',
    paths: extraPaths,
    securitySchemes: SECURITY_SCHEMES,
  });
  // The run-bound log token is documented for the routes that take it only.
  doc.components = {
    ...doc.components,
    securitySchemes: { ...doc.components?.securitySchemes, logToken: { type: 'apiKey', in: 'query', name: 'access_token' } },
  };
  doc.paths = { ...doc.paths, ...toolPaths(tools) } as OpenAPIObject['paths'];
  return doc;
}

// Resolved, not required: requiring swagger-ui-dist would load its whole bundle into the server.
const SWAGGER_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API docs</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-initializer.js"></script>
</body>
</html>`;

const INITIALIZER = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;

/** Serves /docs (the page) and /docs/* (swagger-ui's own files). Answers false when the path is not its own. */
export function docsHandler() {
  const assets = serveStatic(SWAGGER_DIR, { index: false, fallthrough: false });
  return (req: IncomingMessage, res: ServerResponse, pathname: string): void => {
    if (pathname === '/docs' || pathname === '/docs/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(DOCS_PAGE);
    } else if (pathname === '/docs/swagger-initializer.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(INITIALIZER);
    } else {
      req.url = pathname.slice('/docs'.length) + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '');
      assets(req, res, () => {
        res.statusCode = 404;
        res.end();
      });
    }
  };
}
