/**
 * A run's files over plain HTTP, byte for byte with range requests (via `send`): the raw log at
 * GET /runs/{run_id}/log and each listed artifact at GET /runs/{run_id}/artifacts/{name}. Readers
 * are authorized like the log stream (a header, or a run-bound ?access_token=).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import send from 'send';
import type { Services } from '../services';
import { authorizeLogRead } from './auth';
import { sendThrown } from './respond';

interface RunFile {
  file: string;
  type: string;
  disposition: string;
  /** What to answer when the file does not exist (yet). */
  onMissing: (res: ServerResponse) => void;
}

async function serveRunFile(req: IncomingMessage, res: ServerResponse, runId: string, services: Services, onError: (e: unknown) => void, locate: () => Promise<RunFile>): Promise<void> {
  let target: RunFile;
  try {
    await authorizeLogRead(req, runId, services);
    target = await locate();
  } catch (e) {
    return sendThrown(res, e, onError);
  }
  send(req, target.file, { dotfiles: 'allow', cacheControl: false, lastModified: false })
    .on('headers', (r: ServerResponse) => {
      r.setHeader('Content-Type', target.type);
      r.setHeader('Content-Disposition', target.disposition);
      r.setHeader('X-Content-Type-Options', 'nosniff');
      // Whatever a tool wrote, a browser never runs it as part of this origin.
      r.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    })
    .on('error', (err: { status?: number }) => {
      if (err.status === 404) target.onMissing(res);
      else sendThrown(res, err, onError);
    })
    .pipe(res);
}

export function serveRawLog(req: IncomingMessage, res: ServerResponse, runId: string, services: Services, onError: (e: unknown) => void): Promise<void> {
  return serveRunFile(req, res, runId, services, onError, async () => {
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

export function serveArtifact(req: IncomingMessage, res: ServerResponse, runId: string, name: string, services: Services, onError: (e: unknown) => void): Promise<void> {
  return serveRunFile(req, res, runId, services, onError, async () => {
    const { file, type, url } = await services.runs.artifactPath(runId, name);
    return {
      file,
      type,
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
