/**
 * The S3 archive: when a run has ended, its final log, its artifacts and its metadata (run.json) are
 * uploaded under `<S3_PREFIX>runs/<run_id>/`, and the run lists presigned links to them. Any
 * S3-compatible server works (S3_ENDPOINT, path-style addressing).
 */
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Run } from '../../../shared/src/schemas/run';
import { openPlainFile } from '../lib/plainFile';

export interface ArchiveOptions {
  bucket: string;
  endpoint?: string | undefined;
  region: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle?: boolean | undefined;
  prefix: string;
  presignTtlS: number;
}

/** One file of a run to upload: its name in the archive, where it is, its media type, and the size recorded for it (an artifact). */
export interface ArchiveFile {
  name: string;
  path: string;
  type: string;
  size?: number;
}

export class S3Archive {
  private readonly client: S3Client;

  constructor(private readonly options: ArchiveOptions) {
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
      ...(options.accessKeyId && options.secretAccessKey ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } } : {}),
      // Checksums only where S3 requires them: streaming uploads then stay plain PUTs that every
      // S3-compatible server understands (some store the aws-chunked framing as the object's bytes).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(runId: string, name: string): string {
    return `${this.options.prefix}runs/${runId}/${name}`;
  }

  /** Uploads the files, then run.json: its presence says the upload is complete. */
  async upload(run: Run, files: ArchiveFile[]): Promise<void> {
    const metadata = { 'run-id': run.run_id, tool: run.name, status: run.status };
    for (const file of files) {
      // A run's files are its tool's to change, even now: never through a link, never other than recorded.
      const opened = await openPlainFile(file.path);
      if (opened === 'missing' || opened === 'replaced') throw new Error(`${file.name}: ${opened === 'missing' ? 'the file is gone' : 'the file is no longer the regular file its run left'}: not uploaded`);
      const { handle, size } = opened;
      try {
        if (file.size !== undefined && size !== file.size) throw new Error(`${file.name}: the file changed after its run ended (${size} bytes, ${file.size} recorded): not uploaded`);
        const body = handle.createReadStream({ autoClose: false });
        // A read error fails the upload (its promise says so); it must not also surface as an unhandled event.
        body.on('error', () => undefined);
        await this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(run.run_id, file.name), Body: body, ContentLength: size, ContentType: file.type, Metadata: metadata }));
      } finally {
        await handle.close();
      }
    }
    await this.client.send(
      new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(run.run_id, 'run.json'), Body: JSON.stringify(run, null, 2), ContentType: 'application/json', Metadata: metadata }),
    );
  }

  /** A presigned GET link to one archived file, valid for S3_PRESIGN_TTL_S. */
  link(runId: string, name: string): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(runId, name) }), { expiresIn: this.options.presignTtlS });
  }

  /** The archived log of a run from byte `from` on, or null when it has none. */
  readLog(runId: string, from: number): Promise<AsyncIterable<Uint8Array> | null> {
    return this.read(runId, 'log', from);
  }

  /** The archived arrival-time index of a run's log (services/arrivalTimes.ts), or null when it has none. */
  async readLogTimes(runId: string): Promise<string | null> {
    const body = await this.read(runId, 'log.times', 0);
    if (!body) return null;
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(chunk);
    return Buffer.concat(chunks).toString('latin1');
  }

  private async read(runId: string, name: string, from: number): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(runId, name), Range: `bytes=${from}-` }));
      return (Body as AsyncIterable<Uint8Array> | undefined) ?? null;
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey') return null;
      throw e;
    }
  }

  /** Deletes everything archived for a run. */
  async remove(runId: string): Promise<void> {
    const prefix = this.key(runId, '');
    for (;;) {
      const listed = await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix }));
      const keys = (listed.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (!keys.length) return;
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: keys, Quiet: true } }));
      if (!listed.IsTruncated) return;
    }
  }

  close(): void {
    this.client.destroy();
  }
}
