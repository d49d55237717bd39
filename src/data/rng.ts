/**
 * Seeded random numbers for the data pipeline: xoshiro128** (Blackman & Vigna), 128 bits of state,
 * 32-bit outputs, fast with Math.imul. `fork(...keys)` derives an independent stream from the current
 * state and integer keys *without advancing* the parent, so a pair's stream can be a pure function of
 * (run seed, step, slot): `Rng.fromSeed(seed).fork(step, slot)` whatever ran before it.
 */

/** The serialisable state: four unsigned 32-bit words (JSON-safe, goes into checkpoints). */
export type RngState = readonly [number, number, number, number];

const TWO_POW_32 = 4294967296;

/** Chris Wellons' lowbias32 integer hash: a bijection on uint32 with good avalanche. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d);
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Folds an integer key (any safe integer, negative included) into a 32-bit accumulator. */
function absorb(acc: number, key: number): number {
  if (!Number.isSafeInteger(key)) throw new RangeError(`rng key ${key} is not a safe integer; fork() takes integer keys (step, slot, index)`);
  const lo = key >>> 0;
  const hi = Math.floor(key / TWO_POW_32) >>> 0;
  return mix32(mix32((acc ^ lo) >>> 0) ^ hi ^ 0x9e3779b9);
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s: RngState) {
    [this.s0, this.s1, this.s2, this.s3] = s;
    // xoshiro's only forbidden state is all zeros; the hashes below make it practically unreachable.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
  }

  /** A stream from an integer seed (any safe integer). */
  static fromSeed(seed: number): Rng {
    const h = absorb(0x243f6a88, seed);
    return new Rng([mix32(h ^ 0x85a308d3), mix32(h ^ 0x13198a2e), mix32(h ^ 0x03707344), mix32(h ^ 0xa4093822)]);
  }

  static fromState(state: RngState): Rng {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w >= TWO_POW_32)) {
      throw new RangeError(`rng state ${JSON.stringify(state)} is not four unsigned 32-bit integers; was the checkpoint edited?`);
    }
    return new Rng(state);
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** A child stream that depends only on this stream's current state and the keys. */
  fork(...keys: number[]): Rng {
    let acc = 0x452821e6;
    for (const k of keys) acc = absorb(acc, k);
    return new Rng([
      mix32((this.s0 ^ mix32(acc)) >>> 0),
      mix32((this.s1 ^ mix32(acc ^ 0x38d01377)) >>> 0),
      mix32((this.s2 ^ mix32(acc ^ 0xbe5466cf)) >>> 0),
      mix32((this.s3 ^ mix32(acc ^ 0x34e90c6c)) >>> 0),
    ]);
  }

  /** The next raw 32-bit output. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** Uniform integer in [0, n), unbiased (rejection on the 32-bit range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) throw new RangeError(`rng.int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Standard normal by Box–Muller; no cached second value, so the state alone describes the stream. */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Uniform numbers in [0, 1) from a seeded stream, as a plain function (tests, benchmarks, K-means). */
export function uniformStream(seed: number): () => number {
  const r = Rng.fromSeed(seed);
  return () => r.next();
}
