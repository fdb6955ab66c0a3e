/**
 * Buffers lent and given back, so that streaming a log allocates no memory outside V8's heap per
 * chunk. V8 counts every new Buffer's bytes as memory outside its heap and answers their growth with
 * full (mark-compact) collections: two new Buffers of about 100 KB per chunk of log were 18 full
 * collections per three million-line runs, the server's largest single cost (bench/README.md). A
 * pooled buffer is allocated once and written again and again.
 *
 * A lent buffer is held by whoever may still read it (the chunk of log it was made for, every socket
 * write of it not yet done) and goes back to the pool when the last of them lets go. A holder that
 * never lets go (a write whose callback never comes) only costs the pool that buffer: the garbage
 * collector takes it, and the pool allocates another.
 */

/** Which lease a Buffer handed out (a view of a pooled buffer) belongs to. */
const leases = new WeakMap<Buffer, Lease>();

/** A Buffer over memory of its own (never a SharedArrayBuffer). */
export type Bytes = Buffer<ArrayBuffer>;

/** A pooled buffer while it is lent: back to its pool when every holder has let go. */
export class Lease {
  private holders = 1;

  constructor(
    private readonly pool: BufferPool,
    /** The whole pooled buffer. */
    readonly buffer: Bytes,
  ) {}

  /** One more holder: it must `release()` once. */
  hold(): void {
    this.holders++;
  }

  /** One holder less; the last gives the buffer back (later calls do nothing: it may be lent again by then, under another lease). */
  release(): void {
    if (this.holders === 0) return;
    if (--this.holders === 0) this.pool.giveBack(this.buffer);
  }

  /** `buffer[start, end)` as a Buffer that knows this lease (`leaseOf`). */
  view(start: number, end: number): Bytes {
    const view = this.buffer.subarray(start, end);
    leases.set(view, this);
    return view;
  }
}

/** The lease behind `buf` if it is a view of a pooled buffer (`Lease.view`). */
export function leaseOf(buf: unknown): Lease | undefined {
  return buf instanceof Buffer ? leases.get(buf) : undefined;
}

/** Buffers of one size, kept for reuse up to `spare` of them at once. */
export class BufferPool {
  private readonly free: Bytes[] = [];

  constructor(
    /** Bytes of each buffer: the most one loan can hold. */
    readonly bytes: number,
    /** Buffers kept while nobody borrows them; more go to the garbage collector. */
    private readonly spare: number,
  ) {}

  /** A buffer of at least `size` bytes, held once by the caller; null when `size` is more than a pooled buffer holds. */
  lend(size: number): Lease | null {
    if (size > this.bytes) return null;
    return new Lease(this, this.free.pop() ?? Buffer.allocUnsafeSlow(this.bytes));
  }

  /** Called by the last holder of a lease. */
  giveBack(buffer: Bytes): void {
    if (this.free.length < this.spare) this.free.push(buffer);
  }

  /** Buffers kept for reuse now (for tests). */
  get idle(): number {
    return this.free.length;
  }
}
