/**
 * The K-means graph (`kmeans.backend: graph`) against the host K-means (src/train/kmeans.ts) on the
 * same maps and the same uniforms: same clusters, same targets, up to float32 rounding.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/data/rng.js';
import { kmeansTargets } from '../../src/graphs/kmeans.js';
import { Graph } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { DenseKMeans } from '../../src/train/kmeans.js';

/** Maps (B, C, h, w) with a few well-separated directions per image plus noise, like projected scenes. */
function clusteredMaps(rng: Rng, b: number, c: number, cells: number, groups: number): Float32Array {
  const out = new Float32Array(b * c * cells);
  for (let i = 0; i < b; i++) {
    const dirs = Array.from({ length: groups }, () => Array.from({ length: c }, () => rng.normal()));
    for (let n = 0; n < cells; n++) {
      const d = dirs[Math.floor(rng.next() * groups)]!;
      for (let ch = 0; ch < c; ch++) out[(i * c + ch) * cells + n] = d[ch]! + 0.4 * rng.normal();
    }
  }
  return out;
}

async function compare(b: number, c: number, h: number, w: number, k: number, iters: number, seed: number): Promise<{ agree: number; worst: number }> {
  const rng = Rng.fromSeed(seed);
  const maps = clusteredMaps(rng, b, c, h * w, 5);
  const uniforms = new Float32Array(b * k);
  const draws: number[] = [];
  const stream = { next: () => { const u = rng.next(); draws.push(u); return u; } };
  const host = new DenseKMeans(c, h * w, { k, iters }).run(maps, b, stream);
  draws.forEach((u, i) => (uniforms[i] = u));
  assert.is(draws.length, k < h * w ? b * k : 0, 'the host draws k uniforms per image (none when every cell is a cluster)');

  const g = new Graph('kmeans');
  g.output('targets', kmeansTargets(g.input('maps', 'float32', [b, c, h, w]), g.input('u', 'float32', [b, k]), { k, iters }));
  const s = await Session.create(writeModel(g).model, {}, 'kmeans');
  const ours = (await s.run(s.inputNames.includes('u') ? { maps, u: uniforms } : { maps }))['targets']!.data as Float32Array;
  await s.release();
  let agree = 0;
  let worst = 0;
  const cells = h * w;
  for (let i = 0; i < b; i++) {
    for (let n = 0; n < cells; n++) {
      let d = 0;
      for (let ch = 0; ch < c; ch++) d = Math.max(d, Math.abs(ours[(i * c + ch) * cells + n]! - host.targets[(i * c + ch) * cells + n]!));
      if (d < 1e-4) agree++;
      worst = Math.max(worst, d);
    }
  }
  return { agree: agree / (b * cells), worst };
}

test('the graph K-means gives the host K-means targets (k-means++ seeds, Lloyd, empty-cluster refill)', async () => {
  for (const [b, c, h, w, k, iters, seed] of [[16, 128, 7, 7, 4, 10, 1], [8, 16, 4, 4, 6, 10, 2], [4, 32, 3, 3, 8, 3, 3]] as const) {
    const r = await compare(b, c, h, w, k, iters, seed);
    console.log(`    B ${b}, C ${c}, ${h}×${w}, k ${k}, ${iters} iterations: ${(100 * r.agree).toFixed(2)}% of cells agree (max diff ${r.worst.toExponential(1)})`);
    assert.ok(r.agree >= 0.99, `only ${(100 * r.agree).toFixed(2)}% of cells agree`);
  }
});

test('k ≥ cells: every cell is its own target', async () => {
  const r = await compare(2, 8, 2, 2, 4, 5, 4);
  assert.is(r.agree, 1);
});

test.run();
