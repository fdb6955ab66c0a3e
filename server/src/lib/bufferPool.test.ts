import { describe, expect, it } from 'vitest';
import { BufferPool, leaseOf } from './bufferPool';

describe('BufferPool', () => {
  it('lends a buffer until every holder has let go, then lends it again', () => {
    const pool = new BufferPool(64, 4);
    const lease = pool.lend(10);
    expect(lease?.buffer.length).toBe(64);
    lease?.hold();
    lease?.release();
    expect(pool.idle).toBe(0);
    lease?.release();
    expect(pool.idle).toBe(1);
    expect(pool.lend(64)?.buffer).toBe(lease?.buffer);
  });

  it('ignores a late release: the buffer may be lent again by then', () => {
    const pool = new BufferPool(64, 4);
    const first = pool.lend(1);
    first?.release();
    const second = pool.lend(1);
    expect(second?.buffer).toBe(first?.buffer);
    first?.release();
    expect(pool.idle).toBe(0);
    expect(pool.lend(1)?.buffer).not.toBe(second?.buffer);
  });

  it('knows the lease of its views, keeps at most `spare` buffers, lends nothing larger than its buffers', () => {
    const pool = new BufferPool(64, 1);
    const [a, b] = [pool.lend(64), pool.lend(64)];
    const view = a?.view(2, 10);
    expect(view?.length).toBe(8);
    expect(leaseOf(view)).toBe(a);
    expect(leaseOf(Buffer.alloc(8))).toBeUndefined();
    a?.release();
    b?.release();
    expect(pool.idle).toBe(1);
    expect(pool.lend(65)).toBeNull();
  });
});
