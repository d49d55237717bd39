/**
 * The MoCo / DenseCL negative-key queue (SPEC §2.7 MoCo bullet, §2.9): L keys of dimension D in a
 * ring buffer laid out [L, D] row-major, fed to the step graph as one tensor. `enqueue` overwrites the
 * oldest rows and advances the pointer; the whole state is the buffer plus the pointer, which a
 * checkpoint stores as a safetensors tensor and a state.json field.
 */
import type { UniformRng } from './kmeans.js';

export interface QueueState {
  /** [length, dim] keys, row-major. */
  buffer: Float32Array;
  /** Row the next enqueued key goes to. */
  pointer: number;
}

export class KeyQueue {
  readonly length: number;
  readonly dim: number;
  readonly buffer: Float32Array;
  private ptr = 0;

  private constructor(length: number, dim: number, buffer: Float32Array) {
    this.length = length;
    this.dim = dim;
    this.buffer = buffer;
  }

  /**
   * A queue of random unit vectors, as MoCo starts (`randn` then normalise along D). Normals come
   * from Box–Muller on `rng`, two uniforms per value, row by row.
   */
  static random(length: number, dim: number, rng: UniformRng): KeyQueue {
    checkSize(length, dim);
    const q = new KeyQueue(length, dim, new Float32Array(length * dim));
    const row = new Float64Array(dim);
    for (let r = 0; r < length; r++) {
      for (let d = 0; d < dim; d++) {
        // 1 − u ∈ (0, 1], so the log is finite.
        const u = 1 - rng.next();
        row[d] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
      }
      q.writeNormalised(r, row, 0);
    }
    return q;
  }

  /** Rebuilds a queue from a checkpoint; the buffer is copied, and must hold length × dim finite values. */
  static restore(state: QueueState, length: number, dim: number): KeyQueue {
    checkSize(length, dim);
    if (state.buffer.length !== length * dim) {
      throw new RangeError(`queue restore: buffer holds ${state.buffer.length} values, expected length ${length} × dim ${dim} = ${length * dim} (was moco.queue_size or the projection size changed since the checkpoint?)`);
    }
    if (!(Number.isInteger(state.pointer) && state.pointer >= 0 && state.pointer < length)) {
      throw new RangeError(`queue restore: pointer must be an integer in [0, ${length}), got ${state.pointer}`);
    }
    const bad = state.buffer.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new RangeError(`queue restore: key ${Math.floor(bad / dim)} holds a non-finite value`);
    const q = new KeyQueue(length, dim, state.buffer.slice());
    q.ptr = state.pointer;
    return q;
  }

  get pointer(): number {
    return this.ptr;
  }

  /**
   * Writes `keys` ([n, dim], n ≤ length) over the oldest rows, wrapping at the end, and advances the
   * pointer by n. Each key is L2-normalised on entry (a/max(|a|, 1e-12)), so the queue holds unit
   * vectors even if a caller hands it raw projections.
   */
  enqueue(keys: Float32Array): void {
    const n = keys.length / this.dim;
    if (!Number.isInteger(n)) throw new RangeError(`queue enqueue: ${keys.length} values is not a whole number of keys of dim ${this.dim}`);
    if (n > this.length) {
      throw new RangeError(`queue enqueue: ${n} keys do not fit a queue of ${this.length}; moco.queue_size must be at least the batch size`);
    }
    // Check first: one NaN key would poison every later step's negatives.
    const bad = keys.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new RangeError(`queue enqueue: key ${Math.floor(bad / this.dim)} holds a non-finite value; skip the step instead of enqueueing its keys`);
    for (let i = 0; i < n; i++) {
      this.writeNormalised(this.ptr, keys, i * this.dim);
      this.ptr = (this.ptr + 1) % this.length;
    }
  }

  /** A copy of the state for a checkpoint; later enqueues do not change it. */
  snapshot(): QueueState {
    return { buffer: this.buffer.slice(), pointer: this.ptr };
  }

  private writeNormalised(row: number, src: ArrayLike<number>, at: number): void {
    const D = this.dim;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += src[at + d]! * src[at + d]!;
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    const o = row * D;
    for (let d = 0; d < D; d++) this.buffer[o + d] = src[at + d]! * inv;
  }
}

function checkSize(length: number, dim: number): void {
  if (!(Number.isInteger(length) && length >= 1)) throw new RangeError(`queue: moco.queue_size must be an integer ≥ 1, got ${length}`);
  if (!(Number.isInteger(dim) && dim >= 1)) throw new RangeError(`queue: key dim must be an integer ≥ 1, got ${dim}`);
}
