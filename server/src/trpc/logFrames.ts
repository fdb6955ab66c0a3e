/**
 * A log stream's events as the tRPC subscription hands them out. A chunk's data carries its JSON,
 * made once for every WebSocket client of that chunk (wsEncoder.ts writes it into each client's
 * message), and one data object serves every reader of the chunk.
 */
import { withJsonBytes } from '../lib/preEncoded';
import type { LogChunk, StreamEvent } from '../services/logStream';

/**
 * The data of a chunk's event, as JSON: `{"type":"lines","lines":[...]}`, exactly what JSON.stringify
 * of the data gives (wsEncoder.test.ts checks the messages made of it). Lazy: tRPC's own SSE
 * transport serialises the data itself and never asks.
 */
function linesFrame(chunk: LogChunk) {
  let json: Buffer | undefined;
  const data = {
    type: 'lines' as const,
    get lines() {
      return chunk.text().split('\n');
    },
  };
  // Bytes, not a string: kept with the chunk while readers follow, a string made the young generation carry it over and grow (bench/README.md).
  return Object.freeze(withJsonBytes(data, () => (json ??= Buffer.from(JSON.stringify(data), chunk.ascii ? 'latin1' : 'utf8'))));
}

/** The data to yield for `event`: for a chunk of log, its frame, the same object for every reader of the chunk. */
export function frameOf(event: StreamEvent): StreamEvent['data'] {
  return event.chunk ? event.chunk.formOf(linesFrame) : event.data;
}
