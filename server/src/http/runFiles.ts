/**
 * A run's files over plain HTTP, byte for byte, with single range requests: the raw log at
 * GET /runs/{run_id}/log and each listed artifact at GET /runs/{run_id}/artifacts/{name}. Readers
 * are authorized like the log stream (a header, or a run-bound ?access_token=).
 *
 * A tool's files are its own to change, even after its run (a leftover process in process-group
 * isolation): a file is opened without following links, and served only when what was opened is a
 * regular file at the very path expected (no directory on the way swapped for a link) and, for an
 * artifact, of the size recorded when the run ended.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openPlainFile } from '../lib/plainFile';
import type { Services } from '../services';
import { authorizeLogRead } from './auth';
import { sendError, sendThrown } from './respond';

interface RunFile {
  file: string;
  type: string;
  disposition: string;
  /** The size recorded for it, where it must not have changed since (an artifact). */
  size?: number;
  /** What to answer when the file does not exist (yet). */
  onMissing: (res: ServerResponse) => void;
}

/** The one byte range a Range header asks for within `size` bytes: null for the whole file, 'unsatisfiable' past its end. */
export function rangeOf(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  // Several ranges, or a unit other than bytes: the whole file, as RFC 9110 allows.
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** A request for something of one run: the routes under /runs/{run_id}/ take it whole. */
export interface RunRequest {
  req: IncomingMessage;
  res: ServerResponse;
  runId: string;
  services: Services;
  onError: (e: unknown) => void;
}

async function serveRunFile({ req, res, runId, services, onError }: RunRequest, locate: () => Promise<RunFile>): Promise<void> {
  let target: RunFile;
  let opened: Awaited<ReturnType<typeof openPlainFile>>;
  try {
    await authorizeLogRead(req, runId, services);
    target = await locate();
    opened = await openPlainFile(target.file);
  } catch (e) {
    return sendThrown(res, e, onError);
  }
  if (opened === 'missing') return target.onMissing(res);
  if (opened === 'replaced') return sendError({ res, status: 409, message: 'the file is no longer the regular file its run left (a link or something else is in its place): it is not served' });
  const { handle, size } = opened;
  if (target.size !== undefined && size !== target.size) {
    await handle.close();
    return sendError({ res, status: 409, message: `the file changed after its run ended (${size} bytes, ${target.size} recorded): it is not served` });
  }
  // An If-Range names a version: this server keeps none, so the answer is the whole file.
  const range = req.headers['if-range'] === undefined ? rangeOf(req.headers.range, size) : null;
  const headers = {
    'Content-Type': target.type,
    'Content-Disposition': target.disposition,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    // Whatever a tool wrote, a browser never runs it as part of this origin.
    'Content-Security-Policy': "default-src 'none'; sandbox",
  };
  if (range === 'unsatisfiable') {
    await handle.close();
    return sendError({ res, status: 416, message: `range: ${req.headers.range} is past the end of the file (${size} bytes)`, headers: { 'Content-Range': `bytes */${size}` } });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': end - start + 1, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
  if (req.method === 'HEAD' || size === 0) {
    await handle.close();
    return void res.end();
  }
  const stream = handle.createReadStream({ start, end }); // closes the handle when done
  stream.on('error', (e) => (onError(e), res.destroy()));
  res.once('close', () => stream.destroy());
  stream.pipe(res);
}

export function serveRawLog(request: RunRequest): Promise<void> {
  const { runId, services } = request;
  return serveRunFile(request, async () => {
    await services.runs.get(runId);
    return {
      file: await services.runs.logFile(runId),
      type: 'text/plain; charset=utf-8',
      disposition: `inline; filename="${runId}.log"`,
      // A queued run has no log file yet: that is an empty log.
      onMissing: (r) => {
        r.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
        r.end();
      },
    };
  });
}

export function serveArtifact(request: RunRequest, name: string): Promise<void> {
  const { runId, services, onError } = request;
  return serveRunFile(request, async () => {
    const { file, type, url, size } = await services.runs.artifactPath(runId, name);
    return {
      file,
      type,
      size,
      disposition: `attachment; filename="${name}"`,
      // Not on this node's disk (on a fleet the worker that ran it has it): its copy in S3, when there is one.
      onMissing: (r) => {
        if (!url) return sendThrown(r, new Error(`the artifact file ${name} is not on this server's disk${services.fleet ? ' (the worker that ran it keeps it; configure S3 to serve artifacts from any node)' : ''}`), onError);
        r.writeHead(302, { Location: url, 'Cache-Control': 'no-store' });
        r.end();
      },
    };
  });
}
