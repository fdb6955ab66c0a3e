/**
 * Artifacts: the files a tool declares it writes into its run's artifact directory. When the run
 * ends each one found is listed on the run with its size, SHA-256 and media type. Only regular
 * files count (a symbolic link could point anywhere), and none larger than the run's file limit.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import mime from 'mime-types';
import type { Artifact } from '../../../shared/src/schemas/run';

export interface ArtifactSpec {
  name: string;
  type?: string | undefined;
}

/** Lists the declared artifacts found in `dir`; what was left out, and why, is in `problems` (for the run's log). */
export async function collectArtifacts(dir: string, specs: ArtifactSpec[], maxBytes: number | null): Promise<{ artifacts: Artifact[]; problems: string[] }> {
  const artifacts: Artifact[] = [];
  const problems: string[] = [];
  for (const spec of specs) {
    let handle;
    try {
      // O_NOFOLLOW: a link planted in place of the file is refused, never read through.
      handle = await open(path.join(dir, spec.name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(`artifact ${spec.name}: ${code === 'ENOENT' ? 'the tool did not write it' : code === 'ELOOP' ? 'is a symbolic link, left out' : (e as Error).message}`);
      continue;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        problems.push(`artifact ${spec.name}: not a regular file, left out`);
        continue;
      }
      if (maxBytes !== null && stat.size > maxBytes) {
        problems.push(`artifact ${spec.name}: ${stat.size} bytes is over the limit of ${maxBytes}, left out`);
        continue;
      }
      const hash = createHash('sha256');
      for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
      artifacts.push({ name: spec.name, size: stat.size, sha256: hash.digest('hex'), type: spec.type ?? (mime.lookup(spec.name) || 'application/octet-stream'), url: null });
    } finally {
      await handle.close();
    }
  }
  return { artifacts, problems };
}
