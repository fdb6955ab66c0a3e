/** A relay between a node under test and a server it talks to (PostgreSQL, Redis), to cut. */
import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP relay to the host and port of `url` (PostgreSQL, say) that a test can cut (every connection
 * dropped, the port closed) and restore on the same port. A connection that one side closes or resets
 * is closed on the other, as when the two talk directly (a process killed there, its kernel closes its
 * sockets). `vanish` drops the client sides alone: the server is not told, as when the client's host
 * loses power or its network.
 */
export async function tcpRelay(url: string): Promise<{ port: number; cut(): Promise<void>; vanish(): Promise<void>; restore(): Promise<void> }> {
  const target = new URL(url);
  /** `vanished`: its client side went without the server being told. */
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; vanished: boolean }>();
  const make = () =>
    net.createServer((client) => {
      const pair = { client, upstream: net.connect(Number(target.port || 5432), target.hostname), vanished: false };
      pairs.add(pair);
      for (const [s, other] of [[client, pair.upstream], [pair.upstream, client]] as const) {
        s.on('error', () => s.destroy());
        s.on('close', () => {
          pairs.delete(pair);
          if (!pair.vanished) other.destroy();
        });
      }
      client.pipe(pair.upstream).pipe(client);
    });
  let server = make().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const close = () => new Promise((resolve) => server.close(resolve));
  return {
    port,
    async cut() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await close();
    },
    async vanish() {
      for (const pair of pairs) {
        pair.vanished = true;
        pair.client.destroy();
      }
      await close();
    },
    async restore() {
      server = make().listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
  };
}
