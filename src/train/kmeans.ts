/**
 * Per-image cosine K-means on target feature maps (SPEC §2.6, §2.9): each cell's dense target is
 * the normalised centroid of its cluster. Runs on the host between the target forward and the train
 * step every iteration, so it works in flat typed arrays held by a reusable workspace and allocates
 * nothing per image or per cell.
 *
 * Conventions (binding, the PyTorch cross-check repeats them):
 * - cos(a, b) uses a / max(|a|, 1e-12), as everywhere else in the project;
 * - k-means++: the first centre is drawn uniformly, each next one with probability ∝ 1 − max cos to
 *   the centres chosen so far; exactly K draws per image when K < N (none when K ≥ N), so the RNG
 *   stream does not depend on the data;
 * - assignment goes to the highest cosine, ties to the lowest cluster index;
 * - an empty cluster takes the worst-fitting point (lowest cosine to its own centre, ties to the
 *   lowest cell index) among the clusters holding ≥ 2 points;
 * - a Lloyd iteration is: assign, refill empty clusters, recompute centres as normalised means.
 *   Iteration stops early once an assignment repeats, which gives the same result as running all
 *   `iters` because the centres would no longer change.
 */

/** A uniform generator on [0, 1); the data module's seeded RNG satisfies it. */
export interface UniformRng {
  next(): number;
}

export interface KMeansOptions {
  /** Clusters per image (`kmeans.k`). */
  k: number;
  /** Lloyd iterations (`kmeans.iters`). */
  iters: number;
}

export interface KMeansResult {
  /** [B, C, N]: each cell's normalised cluster centroid, laid out like the input. */
  targets: Float32Array;
  /** [B, N]: each cell's cluster index in [0, min(K, N)). */
  assignments: Int32Array;
}

const EPS = 1e-12;

/** A K-means workspace for maps of one shape; reuse it across steps. */
export class DenseKMeans {
  readonly channels: number;
  readonly cells: number;
  readonly k: number;
  readonly iters: number;
  // Point-major copies so every dot product reads contiguous memory: [N, C], [K, C].
  private readonly points: Float64Array;
  private readonly centres: Float64Array;
  private readonly assign: Int32Array;
  private readonly counts: Int32Array;
  /** Cosine of each point to its own centre (assignment) or to the nearest chosen centre (init). */
  private readonly fit: Float64Array;

  constructor(channels: number, cells: number, options: KMeansOptions) {
    const checkInt = (name: string, v: number, min: number): void => {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`DenseKMeans: ${name} must be an integer ≥ ${min}, got ${v}`);
    };
    checkInt('channels', channels, 1);
    checkInt('cells', cells, 1);
    checkInt('kmeans.k', options.k, 1);
    checkInt('kmeans.iters', options.iters, 1);
    this.channels = channels;
    this.cells = cells;
    this.k = options.k;
    this.iters = options.iters;
    this.points = new Float64Array(cells * channels);
    this.centres = new Float64Array(Math.min(options.k, cells) * channels);
    this.assign = new Int32Array(cells);
    this.counts = new Int32Array(options.k);
    this.fit = new Float64Array(cells);
  }

  /**
   * Clusters every image of `maps` ([batch, C, N], channel-major like one NCHW item per image).
   * Writes into `out` when given (its arrays must have the output sizes), else allocates.
   */
  run(maps: Float32Array, batch: number, rng: UniformRng, out?: KMeansResult): KMeansResult {
    const { channels: C, cells: N } = this;
    if (!Number.isInteger(batch) || batch < 0 || maps.length !== batch * C * N) {
      throw new RangeError(`DenseKMeans.run: maps has ${maps.length} floats, expected batch ${batch} × channels ${C} × cells ${N} = ${batch * C * N}`);
    }
    const result = out ?? { targets: new Float32Array(batch * C * N), assignments: new Int32Array(batch * N) };
    if (result.targets.length !== batch * C * N || result.assignments.length !== batch * N) {
      throw new RangeError(`DenseKMeans.run: out.targets must hold ${batch * C * N} floats and out.assignments ${batch * N} ints, got ${result.targets.length} and ${result.assignments.length}`);
    }
    for (let b = 0; b < batch; b++) {
      this.loadImage(maps, b);
      if (this.k >= N) {
        // Every point is its own cluster; its target is itself.
        for (let n = 0; n < N; n++) this.assign[n] = n;
        this.centres.set(this.points);
      } else {
        this.initCentres(rng);
        this.lloyd();
      }
      this.storeImage(result, b);
    }
    return result;
  }

  /** Transposes image b to point-major and L2-normalises each cell. */
  private loadImage(maps: Float32Array, b: number): void {
    const { channels: C, cells: N, points } = this;
    const base = b * C * N;
    for (let c = 0; c < C; c++) {
      const row = base + c * N;
      for (let n = 0; n < N; n++) points[n * C + c] = maps[row + n]!;
    }
    for (let n = 0; n < N; n++) {
      const p = n * C;
      let ss = 0;
      for (let c = 0; c < C; c++) ss += points[p + c]! * points[p + c]!;
      const norm = Math.sqrt(ss);
      if (!Number.isFinite(norm)) {
        throw new RangeError(`DenseKMeans.run: image ${b} cell ${n} has a non-finite feature (the target forward produced NaN or Inf)`);
      }
      const inv = 1 / Math.max(norm, EPS);
      for (let c = 0; c < C; c++) points[p + c]! *= inv;
    }
  }

  private dot(n: number, j: number): number {
    const C = this.channels;
    const p = n * C;
    const q = j * C;
    const { points, centres } = this;
    let s = 0;
    for (let c = 0; c < C; c++) s += points[p + c]! * centres[q + c]!;
    return s;
  }

  private setCentreToPoint(j: number, n: number): void {
    const C = this.channels;
    this.centres.set(this.points.subarray(n * C, n * C + C), j * C);
  }

  /** Seeded k-means++ (cosine form): P(next = n) ∝ 1 − max_j cos(x_n, c_j). */
  private initCentres(rng: UniformRng): void {
    const { cells: N, fit } = this;
    const first = Math.min(N - 1, Math.floor(rng.next() * N));
    this.setCentreToPoint(0, first);
    for (let n = 0; n < N; n++) fit[n] = this.dot(n, 0);
    for (let j = 1; j < this.k; j++) {
      let total = 0;
      for (let n = 0; n < N; n++) total += Math.max(0, 1 - fit[n]!);
      const r = rng.next();
      let pick = Math.min(N - 1, Math.floor(r * N));
      if (total > 0) {
        // Walk the cumulative weights; the last positive-weight cell catches rounding at the top.
        const goal = r * total;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const w = Math.max(0, 1 - fit[n]!);
          if (w <= 0) continue;
          pick = n;
          acc += w;
          if (acc > goal) break;
        }
      }
      // total = 0 means every cell coincides with a chosen centre: any cell is as good, drawn uniformly.
      this.setCentreToPoint(j, pick);
      for (let n = 0; n < N; n++) fit[n] = Math.max(fit[n]!, this.dot(n, j));
    }
  }

  private lloyd(): void {
    const { cells: N, channels: C, k: K, assign, counts, fit, points, centres } = this;
    assign.fill(-1);
    for (let it = 0; it < this.iters; it++) {
      let changed = false;
      counts.fill(0);
      for (let n = 0; n < N; n++) {
        let best = -Infinity;
        let bi = 0;
        const p = n * C;
        let j = 0;
        // Four centres per pass over the point: one read of x feeds four products.
        for (; j + 4 <= K; j += 4) {
          const q0 = j * C, q1 = q0 + C, q2 = q1 + C, q3 = q2 + C;
          let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
          for (let c = 0; c < C; c++) {
            const x = points[p + c]!;
            d0 += x * centres[q0 + c]!;
            d1 += x * centres[q1 + c]!;
            d2 += x * centres[q2 + c]!;
            d3 += x * centres[q3 + c]!;
          }
          // Strict > in index order keeps ties with the lowest index.
          if (d0 > best) [best, bi] = [d0, j];
          if (d1 > best) [best, bi] = [d1, j + 1];
          if (d2 > best) [best, bi] = [d2, j + 2];
          if (d3 > best) [best, bi] = [d3, j + 3];
        }
        for (; j < K; j++) {
          const d = this.dot(n, j);
          if (d > best) [best, bi] = [d, j];
        }
        fit[n] = best;
        if (assign[n] !== bi) changed = true;
        assign[n] = bi;
        counts[bi]!++;
      }
      for (let j = 0; j < K; j++) {
        if (counts[j] !== 0) continue;
        // K < N, so by pigeonhole some cluster holds ≥ 2 points.
        let worst = -1;
        for (let n = 0; n < N; n++) {
          if (counts[assign[n]!]! >= 2 && (worst < 0 || fit[n]! < fit[worst]!)) worst = n;
        }
        counts[assign[worst]!]!--;
        assign[worst] = j;
        counts[j] = 1;
        fit[worst] = 1;
        changed = true;
      }
      if (!changed) break;
      centres.fill(0);
      for (let n = 0; n < N; n++) {
        const p = n * C;
        const q = assign[n]! * C;
        for (let c = 0; c < C; c++) centres[q + c]! += points[p + c]!;
      }
      for (let j = 0; j < K; j++) {
        const q = j * C;
        let ss = 0;
        for (let c = 0; c < C; c++) ss += centres[q + c]! * centres[q + c]!;
        const inv = 1 / Math.max(Math.sqrt(ss), EPS);
        for (let c = 0; c < C; c++) centres[q + c]! *= inv;
      }
    }
  }

  private storeImage(result: KMeansResult, b: number): void {
    const { channels: C, cells: N, assign, centres } = this;
    const base = b * C * N;
    for (let n = 0; n < N; n++) result.assignments[b * N + n] = assign[n]!;
    for (let c = 0; c < C; c++) {
      const row = base + c * N;
      for (let n = 0; n < N; n++) result.targets[row + n] = centres[assign[n]! * C + c]!;
    }
  }
}
