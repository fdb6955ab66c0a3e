/** The built web app under /ui/: files as they are, and index.html for the app's own routes (deep links). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import send from 'send';
import serveStatic from 'serve-static';

export function webAppHandler(distDir: string) {
  const files = serveStatic(distDir, { index: false, fallthrough: true, maxAge: '1h', immutable: false });
  const index = path.join(distDir, 'index.html');
  return (req: IncomingMessage, res: ServerResponse, pathname: string): void => {
    if (!existsSync(index)) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('The web app is not built: run "npm run build" (npm start does it for you).\n');
      return;
    }
    const url = req.url ?? '/';
    req.url = pathname.slice('/ui'.length) + (url.includes('?') ? url.slice(url.indexOf('?')) : '');
    files(req, res, () => {
      if (path.extname(pathname)) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
        return;
      }
      send(req, index, { cacheControl: false }).on('headers', (r: ServerResponse) => r.setHeader('Cache-Control', 'no-cache')).pipe(res);
    });
  };
}
