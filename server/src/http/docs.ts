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
/** A resume point as sent back: an event id, or empty (from the start, as if none were sent). */
const ResumeId = LogEventId.or(z.literal(''));

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'An API key (osr_...) or a JWT' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key' },
} as const;
/** A credential in a header: what every protected operation takes. */
const HEADER_SECURITY: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
/** The log routes also take a run-bound token from POST /runs/{run_id}/log-token, for EventSource. */
const LOG_SECURITY: Record<string, string[]>[] = [...HEADER_SECURITY, { logToken: [] }];
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
        query: z.object({ last_event_id: ResumeId.optional() }).extend(accessToken.shape),
        header: z.object({ 'last-event-id': ResumeId.optional() }),
      },
      responses: {
        // The schema of one event, as an EventSource sees it: set below (it refers to the Run component).
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
        409: errorResponse('The log file is no longer the regular file the server wrote (a link in its place): not served'),
        416: errorResponse('The range starts past the end of the log (Content-Range: bytes */<size>)'),
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
        // Served as the type listed on the run's artifact (`type`): the catalog's, or one guessed from its name.
        200: { description: 'The file, as the type listed on the run', content: { '*/*': { schema: z.string() } } },
        206: { description: 'The requested range', content: { '*/*': { schema: z.string() } } },
        302: { description: 'The file is not on this node\'s disk: its copy in S3 (a presigned link)', headers: { Location: { schema: { type: 'string' } } } },
        401: errorResponse('No credential, or one that does not verify'),
        403: errorResponse('Needs the viewer role'),
        404: errorResponse('Unknown run, or no artifact of that name on it'),
        409: errorResponse('The file is no longer the one its run left (a link in its place, or another size): not served'),
        416: errorResponse('The range starts past the end of the file (Content-Range: bytes */<size>)'),
      },
    },
  },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** One event of GET /runs/{run_id}/logs, as EventSource parses it (`event` is "message" when the stream names none). */
const LOG_EVENT_SCHEMA = {
  oneOf: [
    {
      type: 'object',
      description: 'Log lines, in order',
      properties: {
        event: { const: 'message' },
        id: { type: 'string', pattern: '^\\d{1,15}$', description: 'the byte offset just past these lines: send it back to resume after them' },
        data: { type: 'string', description: 'the lines, joined by \\n' },
        retry: { type: 'integer' },
      },
      required: ['event', 'data', 'id'],
      additionalProperties: false,
    },
    {
      type: 'object',
      description: 'The end: the run has ended and every line was sent; the server then closes the stream',
      properties: {
        event: { const: 'end' },
        id: { type: 'string', pattern: '^\\d{1,15}$' },
        data: { type: 'string', contentMediaType: 'application/json', contentSchema: ref('Run'), description: 'the final Run as JSON' },
        retry: { type: 'integer' },
      },
      required: ['event', 'data', 'id'],
      additionalProperties: false,
    },
  ],
};

interface MediaType {
  schema?: unknown;
}
interface Response {
  description: string;
  content?: Record<string, MediaType>;
  headers?: Record<string, unknown>;
}
interface Operation {
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, Response>;
}

/** The object a start's body must be: `params` for that tool, required when the tool has required parameters. */
function startBody(params: Record<string, unknown>): NonNullable<Operation['requestBody']> {
  const required = Array.isArray(params.required) && params.required.length > 0;
  return {
    required,
    content: { 'application/json': { schema: { type: 'object', properties: { params }, ...(required ? { required: ['params'] } : {}), additionalProperties: false } } },
  };
}

/**
 * One path per catalog tool (`POST /set/hello`, ...) beside the generic `/set/{name}`, so that each
 * tool's parameters are documented with their own JSON Schema.
 */
function toolPaths(tools: Tool[], generic: Operation | undefined): Record<string, { post: Operation & Record<string, unknown> }> {
  // The generic start's answers, minus the unknown-tool 404 (the name is in the path).
  const { 404: _unknownTool, ...responses } = generic?.responses ?? {};
  const idempotencyKey = (generic?.parameters ?? []).filter((p) => (p as { in?: string }).in === 'header');
  return Object.fromEntries(
    tools.map((tool) => [
      `/set/${tool.name}`,
      {
        post: {
          operationId: `start-${tool.name}`,
          tags: ['tools'],
          summary: `Start ${tool.name}`,
          description: `${tool.description}\n\nRuns \`${JSON.stringify(tool.cmd)}\` (no shell). Needs the operator role. The same as POST /set/{name} with name=${tool.name}.`,
          security: HEADER_SECURITY,
          parameters: idempotencyKey,
          requestBody: startBody(tool.params),
          responses: { ...responses, 200: { description: 'The run, started (or queued)', content: { 'application/json': { schema: { type: 'object', properties: { run: ref('Run') }, required: ['run'], additionalProperties: false } } } } },
        },
      },
    ]),
  );
}

const RETRY_AFTER = { 'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } } };

/** Answers any operation of its kind can give, with what they mean; an operation's own description wins. */
const COMMON: Record<string, Response> = {
  400: { description: 'Invalid input: the message names each field at fault, and `issues` lists them one by one' },
  401: { description: 'No credential, or one that does not verify' },
  403: { description: 'The role is too low' },
  413: { description: 'The body is larger than MAX_BODY_BYTES' },
  415: { description: 'A body whose Content-Type is not application/json' },
  429: { description: 'Too many failed authentications from this address; Retry-After says when to try again', headers: RETRY_AFTER },
  503: { description: 'The database is unavailable or its disk full, the server is not ready to start runs (GET /ready fails: too little free space in LOG_DIR, say), or it is shutting down; try again (Retry-After)', headers: RETRY_AFTER },
};

/**
 * Makes the document say what the server does, for every operation: every error answer is the one
 * `Error` body; the statuses any operation of its kind can give are listed (a credential: 401, 403, 429
 * and 503; input: 400; a body: 400, 413, 415); a public operation says `security: []`; a body is
 * required only when it has required fields (an empty one is `{}`).
 */
function conform(doc: OpenAPIObject): void {
  const errorContent = { 'application/json': { schema: ref('Error') } };
  for (const item of Object.values(doc.paths ?? {}) as Record<string, Operation>[]) {
    for (const [method, op] of Object.entries(item)) {
      op.security ??= [];
      const authenticates = op.security.length > 0 || '401' in op.responses;
      const takesBody = method === 'post' || method === 'put' || method === 'patch';
      const statuses = [
        ...(op.security.length > 0 ? ['401', '403'] : []),
        ...(authenticates ? ['429', '503'] : []),
        ...((op.parameters?.length ?? 0) > 0 || takesBody ? ['400'] : []),
        ...(takesBody ? ['413', '415'] : []),
      ];
      for (const status of statuses) op.responses[status] ??= { description: COMMON[status]?.description ?? '' };
      for (const [status, response] of Object.entries(op.responses)) {
        // An error answer with a body of its own (GET /ready's 503) keeps it; trpc-to-openapi's error schemas go.
        const schema = response.content?.['application/json']?.schema as { $ref?: string } | undefined;
        if (Number(status) < 400 || (schema && !schema.$ref?.startsWith('#/components/schemas/error.'))) continue;
        const headers = COMMON[status]?.headers;
        op.responses[status] = { ...response, content: errorContent, ...(headers ? { headers } : {}) };
      }
      if (op.requestBody) {
        const schema = op.requestBody.content['application/json']?.schema as { required?: unknown[] } | undefined;
        op.requestBody.required = (schema?.required?.length ?? 0) > 0;
      }
    }
  }
  // trpc-to-openapi's own error schemas (issues without a path) are used nowhere now.
  const schemas = (doc.components?.schemas ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(schemas)) if (name.startsWith('error.')) delete schemas[name];
}

export function openApiDocument(router: AppRouter, info: { title: string; version: string }, tools: Tool[] = []): OpenAPIObject {
  const doc = generateOpenApiDocument(router, {
    title: info.title,
    version: info.version,
    description:
      'Run whitelisted open-source tools, watch their output live and keep every run on record. The same procedures are served as tRPC at /trpc (HTTP and WebSocket). Roles: viewer (read runs and logs) < operator (+ start and stop) < admin (+ API keys and the audit log). Every error is JSON: `{message, code, issues?}`.',
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
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const logs = paths['/runs/{run_id}/logs']?.get?.responses['200']?.content?.['text/event-stream'];
  if (logs) logs.schema = LOG_EVENT_SCHEMA;
  const start = paths['/set/{name}']?.post;
  doc.paths = { ...doc.paths, ...toolPaths(tools, start) } as OpenAPIObject['paths'];
  conform(doc);
  return doc;
}

/**
 * The methods the document lists for a request path (with HEAD wherever GET is), or null for a path it
 * does not know: a known path asked with another method is a 405 that says which are allowed.
 */
export function allowedMethods(doc: OpenAPIObject): (pathname: string) => string[] | null {
  const routes = Object.entries(doc.paths ?? {}).map(([template, item]) => ({
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    methods: Object.keys(item as object).map((m) => m.toUpperCase()),
  }));
  return (pathname) => {
    const methods = new Set(routes.filter((r) => r.pattern.test(pathname)).flatMap((r) => r.methods));
    if (methods.size === 0) return null;
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods];
  };
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
