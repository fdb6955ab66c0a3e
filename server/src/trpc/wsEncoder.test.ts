import { describe, expect, it } from 'vitest';
import { withJsonBytes } from '../lib/preEncoded';
import { wsEncoder } from './wsEncoder';

const text = (encoded: string | Uint8Array) => (typeof encoded === 'string' ? encoded : Buffer.from(encoded).toString('utf8'));

describe('wsEncoder', () => {
  const plain = { type: 'lines', lines: ['a "quoted" line', 'back\\slash', 'tab\t', 'café'] };
  // As a log chunk does: its JSON made once, the same bytes every time.
  const carried = () => {
    const json = Buffer.from(JSON.stringify(plain));
    return withJsonBytes({ ...plain }, () => json);
  };

  it('writes data that carries its JSON exactly as JSON.stringify would write the message', () => {
    for (const id of [1, 2, 'x', '\u0000data', 'é']) {
      // The keys in tRPC's order: a tracked event's id comes after its data.
      const tracked = { id, jsonrpc: '2.0', result: { type: 'data', data: { id: '120', data: carried() }, id: '120' } };
      expect(text(wsEncoder.encode(tracked))).toBe(JSON.stringify(tracked));
      const untracked = { id, result: { type: 'data', data: carried() } };
      expect(text(wsEncoder.encode(untracked))).toBe(JSON.stringify(untracked));
    }
  });

  it('gives clients with the same envelope the same bytes, and others their own', () => {
    const data = carried();
    const message = (id: number) => ({ id, result: { type: 'data', data: { id: '7', data }, id: '7' } });
    const first = wsEncoder.encode(message(1));
    expect(wsEncoder.encode(message(1))).toBe(first);
    const other = wsEncoder.encode(message(2));
    expect(other).not.toBe(first);
    expect(text(other)).toBe(JSON.stringify(message(2)));
  });

  it('serialises anything else as tRPC does', () => {
    const message = { id: 1, result: { type: 'data', data: plain } };
    expect(wsEncoder.encode(message)).toBe(JSON.stringify(message));
    expect(wsEncoder.decode('{"id":1}')).toEqual({ id: 1 });
  });
});
