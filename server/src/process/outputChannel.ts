/**
 * A run's output channel: one connected pair of Unix sockets. The child writes its stdout and stderr
 * to one end (the same socket for both, so they stay interleaved as written); the server reads the
 * other, into one buffer for the whole run.
 */
import { once } from 'node:events';
import net from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

/** Bytes read from a run's output at once, into one buffer for the whole run: no garbage per read. */
const OUTPUT_READ_BYTES = 64 * 1024;

const NONCE_BYTES = 16;

export interface OutputChannel {
  childEnd: net.Socket;
  ourEnd: net.Socket;
  /** Where the bytes read go; reading waits until there is one. */
  setReader: (onChunk: (chunk: Buffer) => void) => void;
}

/** One connected pair of Unix sockets: the child writes stdout and stderr to one end, we read the other. */
export async function outputChannel(): Promise<OutputChannel> {
  const server = net.createServer({ pauseOnConnect: true });
  const address = `\0oss-runner-${randomUUID()}`; // abstract namespace: no file, gone when closed
  server.listen(address);
  await once(server, 'listening');
  let reader: ((chunk: Buffer) => void) | undefined;
  const buffer = Buffer.allocUnsafe(OUTPUT_READ_BYTES);
  const ourEnd = net.connect({
    path: address,
    onread: {
      buffer,
      callback: (n) => {
        reader?.(buffer.subarray(0, n));
        return true;
      },
    },
  });
  ourEnd.pause();
  // The abstract name is visible in /proc/net/unix: anyone on the machine could connect first. Our end
  // proves itself with a random nonce; any other connection is dropped.
  const nonce = randomBytes(NONCE_BYTES);
  const strangers = new Set<net.Socket>();
  const accepted = new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the output channel did not connect')), 5000);
    server.on('connection', (socket: net.Socket) => {
      strangers.add(socket);
      let got = Buffer.alloc(0);
      const onData = (data: Buffer) => {
        got = Buffer.concat([got, data]);
        if (got.length < NONCE_BYTES) return;
        socket.off('data', onData);
        socket.pause();
        if (got.length === NONCE_BYTES && got.equals(nonce)) {
          strangers.delete(socket);
          clearTimeout(timer);
          resolve(socket);
        } else socket.destroy();
      };
      socket.on('data', onData);
      socket.on('error', () => socket.destroy());
      socket.resume();
    });
  });
  accepted.catch(() => undefined); // handled below; never an unhandled rejection
  const done = () => {
    server.close();
    for (const socket of strangers) socket.destroy(); // whoever else connected, however little they sent
  };
  try {
    await once(ourEnd, 'connect');
    ourEnd.write(nonce);
  } catch (e) {
    done();
    ourEnd.destroy();
    throw e;
  }
  const childEnd = await accepted.finally(done).catch((e: unknown) => {
    ourEnd.destroy();
    throw e;
  });
  return {
    childEnd,
    ourEnd,
    setReader: (onChunk) => {
      reader = onChunk;
      ourEnd.resume();
    },
  };
}
