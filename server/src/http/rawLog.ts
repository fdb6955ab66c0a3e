/** GET /runs/{run_id}/log: the raw log file, byte for byte, with range requests (via `send`). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import send from 'send';
import type { Services } from '../services';
import { authorizeLogRead } from './auth';
import { sendThrown } from './respond';

export async function serveRawLog(req: IncomingMessage, res: ServerResponse, runId: string, services: Services, onError: (e: unknown) => void): Promise<void> {
  try {
    await authorizeLogRead(req, runId, services);
    await services.runs.get(runId);
  } catch (e) {
    return sendThrown(res, e, onError);
  }
  const file = services.runs.logPath(runId);
  send(req, file, { dotfiles: 'allow', cacheControl: false, lastModified: false })
    .on('headers', (r: ServerResponse) => {
      r.setHeader('Content-Type', 'text/plain; charset=utf-8');
      r.setHeader('Content-Disposition', `inline; filename="${runId}.log"`);
      r.setHeader('X-Content-Type-Options', 'nosniff');
    })
    .on('error', (err: { status?: number }) => {
      // A queued run has no log file yet: that is an empty log.
      if (err.status === 404) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
        res.end();
      } else sendThrown(res, err, onError);
    })
    .pipe(res);
}
