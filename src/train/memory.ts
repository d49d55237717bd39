/**
 * Whether a run fits in this machine's memory, decided before anything is written (SPEC §6): a
 * ResNet-50 at 224² and batch 64 on the CPU needs far more than a laptop has, and finding out by
 * being OOM-killed after a 543 MB bundle build loses time and leaves debris.
 *
 * The estimate comes from the static shapes of the train-step graph (built in memory, not written):
 * the state it reads (parameters, optimizer state, target network, queues) plus its activations at
 * their peak, walking the nodes in order with each value alive from the node that makes it to its
 * last reader. ONNX Runtime's CPU provider holds more than that ideal plan (its arena, kernel
 * scratch, feed and fetch copies, the host copy of the state), so the estimate is a fit to measured
 * peak RSS: 0.32 GB + 5.4 × (state + peak activations) matched tiny at batch 16 (0.93 GB) and 64
 * (2.56 GB) and r18 at batch 16 (7.94 GB) within 10%. GPU providers keep activations in device
 * memory, which this check does not see.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { buildBundleGraphs } from '../bundle/graphs.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { BYTES_PER_ELEMENT } from '../onnx/dtype.js';
import type { Graph, Value } from '../onnx/ir.js';

const BASE_BYTES = 0.32e9;
const OVERHEAD = 5.4;

export interface MemoryEstimate {
  /** Estimated peak resident memory of the training process. */
  readonly bytes: number;
  /** What the train step reads and carries: parameters, optimizer state, target network, queues. */
  readonly stateBytes: number;
  /** Peak bytes of the train step's intermediate values. */
  readonly activationBytes: number;
  readonly batch: number;
}

const bytesOf = (v: Value): number => v.size * BYTES_PER_ELEMENT[v.dtype];

/** The most bytes of intermediate values alive at once when `g`'s nodes run in order. */
export function peakActivationBytes(g: Graph): number {
  const lastUse = new Map<Value, number>();
  g.nodes.forEach((n, i) => {
    for (const v of n.inputs) if (v) lastUse.set(v, i);
  });
  let live = 0;
  let peak = 0;
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) live += bytesOf(o);
    peak = Math.max(peak, live);
    for (const v of new Set(n.inputs)) if (v?.producer && lastUse.get(v) === i) live -= bytesOf(v);
  });
  return peak;
}

export function estimateRunMemory(cfg: MultiSiamConfig): MemoryEstimate {
  const { trainStep } = buildBundleGraphs(cfg);
  const stateBytes = trainStep.inputs.reduce((s, i) => s + bytesOf(i.value), 0);
  const activationBytes = peakActivationBytes(trainStep);
  return { bytes: BASE_BYTES + OVERHEAD * (stateBytes + activationBytes), stateBytes, activationBytes, batch: cfg.train.batch_size };
}

/** The memory this process may use: the machine's, or less where a cgroup (container) limits it. */
export function machineMemory(): { bytes: number; what: string } {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const limit = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(limit) && limit < totalmem()) return { bytes: limit, what: `the container's memory limit (${file})` };
    } catch {
      // No such cgroup file: not limited that way.
    }
  }
  return { bytes: totalmem(), what: "this machine's memory" };
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;

/** The largest batch whose estimate fits `available` (activations grow with the batch, the state does not). */
function largestBatch(e: MemoryEstimate, available: number): number {
  const perImage = e.activationBytes / e.batch;
  return Math.floor(((available - BASE_BYTES) / OVERHEAD - e.stateBytes) / perImage);
}

/** Throws, saying what to change, when a CPU run's estimated memory exceeds what this process may use. */
export function checkRunMemory(cfg: MultiSiamConfig): MemoryEstimate {
  const e = estimateRunMemory(cfg);
  const machine = machineMemory();
  if (e.bytes <= machine.bytes) return e;
  const batch = largestBatch(e, machine.bytes);
  const smaller = batch >= 2 ? `lower train.batch_size to ${batch} or less (--set train.batch_size=${batch}), or ` : '';
  throw new Error(
    `this run needs about ${gb(e.bytes)} of memory on the CPU (${cfg.backbone.arch} ×${cfg.backbone.width} at ${cfg.data.image_size}², batch ${e.batch}: ` +
      `${gb(e.stateBytes)} of parameters and state, ${gb(e.activationBytes)} of activations at their peak, estimated from the graph shapes), ` +
      `more than ${machine.what}, ${gb(machine.bytes)}. Nothing was written. To fit: ${smaller}choose a smaller configuration (--preset tiny or r18), ` +
      'or run on a GPU (--ep cuda or webgpu); --no-memory-check skips this estimate',
  );
}
