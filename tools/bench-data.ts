/**
 * Data-pipeline throughput: pairs per second from synthetic scenes (full BYOL augmentations) at 112
 * and 224 px, made in-process and by N worker threads. A benchmark prints figures; it asserts nothing.
 *
 *   node dist/tools/bench-data.js [--workers N] [--seconds S] [--batch B]
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PairLoader, defaultWorkerCount } from '../src/data/loader.js';
import { DEFAULT_PAIR_OPTIONS } from '../src/data/pairs.js';
import { parseDataArg } from '../src/data/sources.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} ${process.argv[i + 1]}: expected a non-negative number`);
  return v;
}

const workers = flag('workers', defaultWorkerCount());
const seconds = flag('seconds', 4);
const batchSize = flag('batch', 32);
const data = await parseDataArg('synthetic:2000');

console.log(`data pipeline, synthetic 256×256 scenes, batch ${batchSize}, ${availableParallelism()} cores, node ${process.version}`);
for (const size of [112, 224]) {
  // A 7×7 map either way: stride 16 at 112 px, 32 at 224 px.
  const pair = { ...DEFAULT_PAIR_OPTIONS, imageSize: size, featureH: 7, featureW: 7 };
  for (const w of [0, workers]) {
    const loader = new PairLoader({ data, pair, batchSize, seed: 0, workers: w, prefetch: 2 });
    await loader.next(); // warm-up: worker start, JIT
    let pairs = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await loader.next();
      pairs += batchSize;
    }
    const elapsed = (performance.now() - t0) / 1000;
    await loader.close();
    console.log(`  ${String(size).padStart(3)} px  workers ${w}  ${(pairs / elapsed).toFixed(1).padStart(7)} pairs/s  (${pairs} pairs in ${elapsed.toFixed(1)} s)`);
  }
}
