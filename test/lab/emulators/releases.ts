// releases.lab.test: a static file server over lab.json's releasesDir (GET and HEAD, 404 otherwise).
import { createReadStream, statSync } from 'node:fs';
import * as path from 'node:path';
import type { LabConfig } from './config';
import { type Exchange, sendEmpty } from './http';

const contentTypes: Record<string, string> = {
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.zip': 'application/zip',
  '.deb': 'application/vnd.debian.binary-package',
};

export class ReleasesServer {
  constructor(private readonly config: LabConfig) {}

  handle(exchange: Exchange): void {
    const { req, res, url } = exchange;
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendEmpty(res, 405, { Allow: 'GET, HEAD' });
    const root = path.resolve(this.config.lab.releasesDir ?? path.join(this.config.root, 'releases'));
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname);
    } catch {
      return sendEmpty(res, 400);
    }
    const file = path.resolve(root, `.${relative}`);
    if (file !== root && !file.startsWith(root + path.sep)) return sendEmpty(res, 404);
    let size: number;
    let modified: Date;
    try {
      const stats = statSync(file);
      if (!stats.isFile()) return sendEmpty(res, 404);
      size = stats.size;
      modified = stats.mtime;
    } catch {
      return sendEmpty(res, 404);
    }
    res.writeHead(200, {
      'Content-Type': contentTypes[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(size),
      'Last-Modified': modified.toUTCString(),
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  }
}
