/**
 * Artifacts, the S3 archive and retention, against the real server and a real S3-compatible server
 * (s3rver, started here on a free port).
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health } from '../../shared/src/schemas/health';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { S3Archive } from '../src/services/archive';
import { api, fetchAuthed, runToEnd, startServer, tempDir, waitFor, type TestServer } from './harness';

const CATALOG = `
tools:
  - name: report
    description: writes a report, a binary, a link out of its directory, and not everything it declares
    cmd:
      - bash
      - -c
      - |
        cd "$1"
        printf '{"findings": 2}\\n' > report.json
        head -c 100000 /dev/urandom > blob.bin
        ln -s /etc/passwd passwd.txt
        echo undeclared > extra.txt
        echo done
      - report
      - "{{artifacts}}"
    artifacts:
      - report.json
      - { name: blob.bin, type: application/x-custom }
      - passwd.txt
      - missing.txt
  - name: broken-report
    description: writes a report that is not what it claims to be
    cmd: ["bash", "-c", "echo '{bad' > $1/report.json", "broken", "{{artifacts}}"]
    artifacts: [{ name: report.json, report: trivy }]
  - name: hello
    description: says hello
    cmd: ["echo", "hello"]
  - name: sleeper
    description: runs until stopped
    cmd: ["bash", "-c", "echo started; exec sleep 600"]
`;

const BUCKET = 'oss-runner-test';
let s3server: S3rver;
let s3: S3Client;
let endpoint: string;

beforeAll(async () => {
  s3server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir('s3rver-'), configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = await s3server.run();
  endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
afterAll(async () => {
  s3.destroy();
  await s3server.close();
});

const s3Env = () => ({
  S3_BUCKET: BUCKET,
  S3_ENDPOINT: endpoint,
  S3_ACCESS_KEY_ID: 'S3RVER',
  S3_SECRET_ACCESS_KEY: 'S3RVER',
  S3_PREFIX: 'test/',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function s3Keys(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('artifacts', () => {
  let server: TestServer;
  let run: Run;
  let lines: string[];

  beforeAll(async () => {
    server = await startServer({ catalog: CATALOG, env: s3Env() });
    ({ run, lines } = await runToEnd(server.url, 'report'));
    // The upload first: the tests below swap the run's files, which the upload would (rightly) refuse.
    await waitFor('the upload to end', async () => {
      const { body } = await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`);
      return body.run.archived_at || body.run.archive_error ? true : undefined;
    });
  });
  afterAll(() => server.stop());

  it('lists the declared files the run left, with size, sha256 and type; links and missing ones are left out, with a word in the log', () => {
    const dir = path.join(server.logDir, 'artifacts', run.run_id);
    const report = readFileSync(path.join(dir, 'report.json'));
    const blob = readFileSync(path.join(dir, 'blob.bin'));
    expect(run.artifacts.map(({ url: _url, ...a }) => a)).toEqual([
      { name: 'report.json', size: report.length, sha256: sha256(report), type: 'application/json' },
      { name: 'blob.bin', size: 100000, sha256: sha256(blob), type: 'application/x-custom' },
    ]);
    expect(lines).toEqual(['done', 'oss-runner: artifact passwd.txt: is a symbolic link, left out', 'oss-runner: artifact missing.txt: the tool did not write it']);
  });

  it('serves each listed artifact, byte for byte and by range, and nothing else', async () => {
    const base = `${server.url}/runs/${run.run_id}/artifacts`;
    const res = await fetchAuthed(`${base}/blob.bin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-custom');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="blob.bin"');
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(run.artifacts[1]?.sha256);
    const part = await fetchAuthed(`${base}/report.json`, { headers: { range: 'bytes=1-10' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('"findings"');

    for (const name of ['passwd.txt', 'extra.txt', 'missing.txt', '..%2F..%2F..%2Fetc%2Fpasswd', 'report.json%00']) {
      const refused = await api<{ message: string }>(server.url, 'GET', `/runs/${run.run_id}/artifacts/${name}`);
      expect(refused.status, name).toBe(404);
      expect(refused.body.message).toMatch(/^name: run ".*" has no artifact/);
    }
    expect((await api(server.url, 'GET', `/runs/${run.run_id}/artifacts/%zz`)).status).toBe(400);
    expect((await api(server.url, 'GET', `/runs/${run.run_id}/artifacts/report.json`, undefined, { authorization: '' })).status).toBe(401);
  });

  it('answers 416 for a range past the end (what curl -C - asks of a complete file), on an artifact and on the raw log', async () => {
    const size = run.artifacts[0]?.size ?? 0;
    const past = await fetchAuthed(`${server.url}/runs/${run.run_id}/artifacts/report.json`, { headers: { range: `bytes=${size}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    const log = await fetchAuthed(`${server.url}/runs/${run.run_id}/log`);
    const logSize = (await log.arrayBuffer()).byteLength;
    const logPast = await fetchAuthed(`${server.url}/runs/${run.run_id}/log`, { headers: { range: `bytes=${logSize}-` } });
    expect(logPast.status).toBe(416);
    expect(logPast.headers.get('content-range')).toBe(`bytes */${logSize}`);
  });

  it('serves an artifact only while it is the very file its run left: never a link in its place, nor a changed file', async () => {
    // What a leftover process of the run could do (process-group isolation) once the run is over.
    const dir = path.join(server.logDir, 'artifacts', run.run_id);
    const report = path.join(dir, 'report.json');
    const original = readFileSync(report);
    const get = () => api<{ message: string }>(server.url, 'GET', `/runs/${run.run_id}/artifacts/report.json`);
    try {
      rmSync(report);
      symlinkSync('/etc/passwd', report);
      const link = await get();
      expect(link.status).toBe(409);
      expect(JSON.stringify(link.body)).not.toContain('root:');
      rmSync(report);
      writeFileSync(report, Buffer.concat([original, Buffer.from('\n')]));
      expect((await get()).status).toBe(409);
      // The artifacts directory itself swapped for a link to a copy of it.
      writeFileSync(report, original);
      renameSync(dir, `${dir}.moved`);
      symlinkSync(`${dir}.moved`, dir);
      expect((await get()).status).toBe(409);
    } finally {
      if (lstatSync(dir).isSymbolicLink()) {
        rmSync(dir);
        renameSync(`${dir}.moved`, dir);
      }
      rmSync(report, { force: true });
      writeFileSync(report, original);
    }
    expect((await get()).status).toBe(200);
  });

  it('uploads the log, the artifacts and the run to S3, and lists presigned links to them', async () => {
    const archived = await waitFor('the upload', async () => {
      const { body } = await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`);
      return body.run.archived_at ? body.run : undefined;
    });
    expect(archived.archive_error).toBeNull();
    const prefix = `test/runs/${run.run_id}/`;
    expect(await s3Keys(prefix)).toEqual([`${prefix}artifacts/blob.bin`, `${prefix}artifacts/report.json`, `${prefix}log`, `${prefix}log.times`, `${prefix}run.json`]);
    const stored = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}run.json` }));
    expect(JSON.parse(await stored.Body!.transformToString())).toMatchObject({ run_id: run.run_id, status: 'succeeded', artifacts: [{ name: 'report.json' }, { name: 'blob.bin' }] });

    // The links work without any credential of ours: they are signed.
    expect(archived.log_url).toMatch(/X-Amz-Signature=/);
    const log = await fetch(archived.log_url ?? '');
    expect(await log.text()).toBe(readFileSync(path.join(server.logDir, 'runs', `${run.run_id}.log`), 'utf8'));
    const blob = await fetch(archived.artifacts[1]?.url ?? '');
    expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(run.artifacts[1]?.sha256);
  });

  it('uploads no link in a file’s place, and no file changed since its run ended', async () => {
    const archive = new S3Archive({ bucket: BUCKET, endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', prefix: 'guard/', presignTtlS: 60 });
    const dir = realpathSync(tempDir('upload-guard-'));
    const secret = path.join(dir, 'secret');
    writeFileSync(secret, 'the server’s own secret\n');
    const fake = { ...run, run_id: 'guarded' };
    const upload = (file: { name: string; path: string; size?: number }) => archive.upload(fake, [{ type: 'text/plain', ...file }]);
    symlinkSync(secret, path.join(dir, 'linked'));
    await expect(upload({ name: 'linked', path: path.join(dir, 'linked') })).rejects.toThrow('linked: the file is no longer the regular file its run left: not uploaded');
    mkdirSync(path.join(dir, 'real'));
    writeFileSync(path.join(dir, 'real', 'report.json'), '{}');
    symlinkSync(path.join(dir, 'real'), path.join(dir, 'via'));
    await expect(upload({ name: 'via', path: path.join(dir, 'via', 'report.json') })).rejects.toThrow('no longer the regular file');
    writeFileSync(path.join(dir, 'grown'), 'more than recorded');
    await expect(upload({ name: 'grown', path: path.join(dir, 'grown'), size: 4 })).rejects.toThrow('grown: the file changed after its run ended (18 bytes, 4 recorded): not uploaded');
    await expect(upload({ name: 'gone', path: path.join(dir, 'gone') })).rejects.toThrow('gone: the file is gone');
    expect(await s3Keys('guard/')).toEqual([]);
    await upload({ name: 'fine', path: path.join(dir, 'grown'), size: 18 });
    expect(await s3Keys('guard/')).toEqual(['guard/runs/guarded/fine', 'guard/runs/guarded/run.json']);
    archive.close();
  });
});

describe('summaries', () => {
  it('leaves a run whose report does not parse intact, with a note', async () => {
    const server = await startServer({ catalog: CATALOG });
    try {
      const { run } = await runToEnd(server.url, 'broken-report');
      expect(run).toMatchObject({ status: 'succeeded', artifacts: [{ name: 'report.json' }], summary: { findings: null, notes: [expect.stringMatching(/^report\.json \(trivy\): not valid JSON/)] } });
    } finally {
      await server.stop();
    }
  });
});

describe('retention', () => {
  it('deletes finished runs past their age with their files and S3 copies, and never a running one', async () => {
    const server = await startServer({ catalog: CATALOG, env: { ...s3Env(), RETENTION_DAYS: String(2 / 86400), RETENTION_INTERVAL_S: '0.5' } });
    try {
      const sleeper = await api<RunEnvelope>(server.url, 'POST', '/set/sleeper');
      const { run } = await runToEnd(server.url, 'report');
      await waitFor('the upload', async () => (await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.archived_at ?? undefined);
      const log = path.join(server.logDir, 'runs', `${run.run_id}.log`);
      const files = [log, `${log}.times`, path.join(server.logDir, 'work', run.run_id), path.join(server.logDir, 'artifacts', run.run_id)];
      expect(files.every((f) => existsSync(f))).toBe(true);

      await waitFor('retention', async () => ((await api(server.url, 'GET', `/runs/${run.run_id}`)).status === 404 ? true : undefined), 10_000);
      // The record goes first, then the files (so nobody opens a file being deleted).
      await waitFor('the files to go', () => (files.every((f) => !existsSync(f)) ? true : undefined));
      await waitFor('the S3 copies to go', async () => ((await s3Keys(`test/runs/${run.run_id}/`)).length === 0 ? true : undefined));
      // The running one, older than the age by now, is untouched.
      const { body } = await api<RunEnvelope>(server.url, 'GET', `/runs/${sleeper.body.run.run_id}`);
      expect(body.run.status).toBe('running');
      expect(existsSync(path.join(server.logDir, 'runs', `${sleeper.body.run.run_id}.log`))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('keeps only the newest runs of each tool, and gives the space back', async () => {
    // 150 runs recorded first, with no retention; the rule then applies at the next start.
    const first = await startServer({ catalog: CATALOG, env: { START_RATE_PER_MINUTE: '100000' } });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 150; i++) ids.push((await api<RunEnvelope>(first.url, 'POST', '/set/hello')).body.run.run_id);
      await waitFor('every run to end', async () => ((await api<Health>(first.url, 'GET', '/health')).body.runs?.succeeded === 150 ? true : undefined));
    } finally {
      await first.stop();
    }
    const db = new Database(path.join(first.logDir, 'oss-runner.db'), { readonly: true });
    const pagesAtPeak = db.pragma('page_count', { simple: true }) as number;
    const server = await startServer({ catalogFile: path.join(first.logDir, 'catalog.yaml'), logDir: first.logDir, env: { ADMIN_API_KEY: first.adminKey, RETENTION_KEEP_PER_TOOL: '3', RETENTION_INTERVAL_S: '0.5' } });
    try {
      await waitFor('retention to keep three', async () => {
        const { body } = await api<{ items: Run[] }>(server.url, 'GET', '/runs?name=hello&limit=500');
        return body.items.length === 3 && body.items.every((r) => r.status === 'succeeded') ? body.items : undefined;
      });
      const { body } = await api<{ items: Run[] }>(server.url, 'GET', '/runs?name=hello');
      expect(body.items.map((r) => r.run_id)).toEqual(ids.slice(-3).reverse());
      await waitFor('the database to shrink', () => ((db.pragma('page_count', { simple: true }) as number) < pagesAtPeak ? true : undefined));
      expect(db.pragma('freelist_count', { simple: true })).toBe(0);
      db.close();
    } finally {
      await server.stop();
    }
  });
});
