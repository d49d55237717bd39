/**
 * What happens between the target forward and the train step: turning the target network's
 * aligned dense maps into dense targets (per-image K-means centroids, or the maps themselves for
 * "MultiSiam w/o K-means") and, for MoCo, the keys that go into the queues afterwards.
 */
import type { MultiSiamConfig } from '../config/index.js';
import { DenseKMeans, type UniformRng } from './kmeans.js';

export class DenseTargets {
  private readonly kmeans: DenseKMeans | null;

  constructor(cfg: MultiSiamConfig, channels: number, cells: number) {
    this.kmeans = cfg.dense_target === 'kmeans' ? new DenseKMeans(channels, cells, { k: Math.min(cfg.kmeans.k, cells), iters: cfg.kmeans.iters }) : null;
  }

  /** Targets for a batch of aligned target maps (B, D, cells): K-means centroids per cell, or the map. */
  compute(maps: Float32Array, batch: number, rng: UniformRng): Float32Array {
    return this.kmeans ? this.kmeans.run(maps, batch, rng).targets : maps;
  }
}

/** The mean over cells of each map (B, D, cells) → (B, D): the dense key MoCo enqueues (normalised by the queue). */
export function pooledKeys(maps: Float32Array, batch: number, channels: number, cells: number): Float32Array {
  const out = new Float32Array(batch * channels);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      const at = (b * channels + c) * cells;
      for (let i = 0; i < cells; i++) s += maps[at + i]!;
      out[b * channels + c] = s / cells;
    }
  }
  return out;
}
