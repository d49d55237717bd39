/**
 * Where each key queue's next keys go (SPEC §2.7 MoCo bullet, §2.9). The queues themselves live in
 * the step graphs as state (src/graphs/queue.ts): a step overwrites the rows it is told, oldest first.
 * A cursor keeps the pointer, hands out the rows of the next `n` keys, and advances only when the
 * trainer adopts a step, so a skipped step enqueues nothing. The pointer is part of the loop state a
 * checkpoint saves.
 */
export class QueueCursor {
  private ptr: number;

  constructor(readonly queue: string, readonly length: number, pointer = 0) {
    if (!(Number.isInteger(length) && length >= 1)) throw new RangeError(`queue '${queue}': length must be an integer ≥ 1, got ${length}`);
    if (!(Number.isInteger(pointer) && pointer >= 0 && pointer < length)) {
      throw new RangeError(`queue '${queue}': pointer must be an integer in [0, ${length}), got ${pointer} (was moco.queue_size changed since the checkpoint?)`);
    }
    this.ptr = pointer;
  }

  get pointer(): number {
    return this.ptr;
  }

  /** The rows `n` keys overwrite: the oldest, wrapping at the end. */
  rows(n: number): BigInt64Array {
    if (!(Number.isInteger(n) && n >= 1 && n <= this.length)) {
      throw new RangeError(`queue '${this.queue}': ${n} keys do not fit a queue of ${this.length}; moco.queue_size must be at least the keys per step`);
    }
    return BigInt64Array.from({ length: n }, (_, i) => BigInt((this.ptr + i) % this.length));
  }

  /** Moves past `n` keys once their step is adopted. */
  advance(n: number): void {
    this.ptr = (this.ptr + n) % this.length;
  }
}
