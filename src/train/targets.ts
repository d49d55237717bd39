/**
 * Host-side target transforms (`kmeans.backend: ts`): what happens between the target forward and
 * the train step for a target link whose transform is `kmeans` — the target network's aligned
 * (B, C, h, w) map becomes per-image cosine K-means centroids (SPEC §2.6). Links that copy stay on
 * the device and never come here.
 */
import type { TargetLink } from '../methods/method.js';
import { DenseKMeans, type UniformRng } from './kmeans.js';

export class HostTargets {
  private readonly workspaces = new Map<string, DenseKMeans>();

  /** Centroid targets for one link's maps (B, C, cells). */
  compute(link: TargetLink, maps: Float32Array, dims: readonly number[], rng: UniformRng): Float32Array {
    if (link.transform.kind !== 'kmeans') throw new Error(`internal: target link '${link.input}' is not a K-means link`);
    const [batch, channels, h, w] = dims as [number, number, number, number];
    const cells = h * w;
    const key = `${channels}x${cells}:${link.transform.k}x${link.transform.iters}`;
    let km = this.workspaces.get(key);
    if (!km) {
      km = new DenseKMeans(channels, cells, { k: Math.min(link.transform.k, cells), iters: link.transform.iters });
      this.workspaces.set(key, km);
    }
    return km.run(maps, batch, rng).targets;
  }
}
