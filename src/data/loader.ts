/**
 * The batch loader: N worker threads (or the calling thread when workers = 0) each make whole pairs;
 * the loader keeps `prefetch` batches in flight and packs batch k from its B pairs. Which image and
 * which random stream a pair gets depend only on (dataset, seed, k, slot), never on which worker
 * made it or when, so a resumed run (startStep) and any worker count give bit-identical batches.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { type PairBatch, EpochOrder, assembleBatch } from './batch.js';
import { type Pair, type PairOptions, type PairTask, describeTaskError, producePair, validatePairOptions } from './pairs.js';
import { type BadFile, type DataSpec, type ImageSource, type Logger, SkipLog, consoleLogger, openSource } from './sources.js';

export interface LoaderOptions {
  data: DataSpec;
  pair: PairOptions;
  batchSize: number;
  /** Run seed: with the step and slot it fixes every pair. */
  seed: number;
  /** First step to produce (a resumed run passes its checkpoint's step). */
  startStep?: number;
  /** Worker threads; 0 makes pairs on the calling thread. Default defaultWorkerCount(). */
  workers?: number;
  /** Batches kept in flight ahead of the one being consumed (default 2). */
  prefetch?: number;
  /** Where bad-file warnings go (default: console.warn). */
  logger?: Logger;
}

export interface LoadedBatch {
  step: number;
  batch: PairBatch;
  /** Time next() spent waiting for this batch: the trainer's data-wait. */
  waitMs: number;
}

/** Messages between the loader and worker.ts. */
export interface WorkerInit {
  data: DataSpec;
  pair: PairOptions;
  seed: number;
}
export interface TaskMessage {
  id: number;
  task: PairTask;
}
export type WorkerReply = { id: number; bad: BadFile[] } & ({ pair: Pair } | { error: string });

/** min(cores − 1, 4), at least 1. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(availableParallelism() - 1, 4));
}

interface Pending {
  pairs: (Pair | undefined)[];
  remaining: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class PairLoader {
  readonly workers: number;
  private readonly batchSize: number;
  private readonly prefetch: number;
  private readonly order: EpochOrder;
  private readonly skips: SkipLog;
  private readonly pending = new Map<number, Pending>();
  private readonly tasks = new Map<number, { step: number; slot: number; worker: number }>();
  private readonly pool: { worker: Worker; busy: number }[] = [];
  private nextStep: number;
  private nextTaskId = 0;
  private failure: Error | null = null;
  private closed = false;
  /** In-process mode (workers = 0): the source, and the chain that makes pairs one after another. */
  private readonly local: ImageSource | null;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LoaderOptions) {
    const { batchSize, prefetch = 2, workers = defaultWorkerCount(), startStep = 0 } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size ${batchSize}: must be a positive integer`);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new RangeError(`prefetch ${prefetch}: must be a positive integer (batches in flight)`);
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers ${workers}: must be an integer ≥ 0 (0 = in-process)`);
    if (!Number.isSafeInteger(startStep) || startStep < 0) throw new RangeError(`start step ${startStep}: must be an integer ≥ 0`);
    validatePairOptions(opts.pair);
    this.batchSize = batchSize;
    this.prefetch = prefetch;
    this.workers = workers;
    this.nextStep = startStep;
    this.skips = new SkipLog(opts.logger ?? consoleLogger);
    const source = openSource(opts.data);
    this.order = new EpochOrder(source.count, opts.seed);
    const init: WorkerInit = { data: opts.data, pair: opts.pair, seed: opts.seed };
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
      worker.on('message', (m: WorkerReply) => this.onReply(m));
      worker.on('error', (e) => this.fail(new Error(`data worker ${w} crashed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`data worker ${w} exited unexpectedly (code ${code})`));
      });
      this.pool.push({ worker, busy: 0 });
    }
    this.local = workers === 0 ? source : null;
  }

  /** The step the next call to next() returns (what a checkpoint stores). */
  get step(): number {
    return this.nextStep;
  }

  /** Images found unreadable so far (each named once through the logger). */
  get skipped(): number {
    return this.skips.skipped;
  }

  /** The next batch, in step order; throws a worker's error naming the pair and file. */
  async next(): Promise<LoadedBatch> {
    if (this.closed) throw new Error('PairLoader.next() after close()');
    for (let s = this.nextStep; s < this.nextStep + this.prefetch; s++) this.schedule(s);
    const step = this.nextStep;
    const p = this.pending.get(step)!;
    const t0 = performance.now();
    await p.done;
    const waitMs = performance.now() - t0;
    this.pending.delete(step);
    this.nextStep++;
    this.schedule(this.nextStep + this.prefetch - 1);
    return { step, batch: assembleBatch(p.pairs as Pair[], this.opts.pair), waitMs };
  }

  /**
   * Stops the workers (they keep the process alive until then); batches in flight are dropped and a
   * next() still waiting is rejected.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('PairLoader closed while a batch was in flight'));
    await Promise.all(this.pool.map((p) => p.worker.terminate()));
    await this.chain;
  }

  /** Sends one task to the least busy worker, or to the in-process chain. */
  private dispatch(id: number, task: PairTask): void {
    const local = this.local;
    if (local) {
      // setImmediate between pairs lets timers and I/O (a graph run finishing) in between.
      this.chain = this.chain
        .then(() => new Promise<void>((r) => setImmediate(r)))
        .then(() => (this.closed ? null : producePair(local, this.skips.known, (b) => this.skips.note(b), this.opts.seed, task, this.opts.pair)))
        .then(
          (pair) => {
            if (pair) this.onReply({ id, pair, bad: [] });
          },
          (e: unknown) => this.onReply({ id, error: describeTaskError(local, task, e), bad: [] }),
        );
      return;
    }
    let w = 0;
    for (let i = 1; i < this.pool.length; i++) if (this.pool[i]!.busy < this.pool[w]!.busy) w = i;
    this.pool[w]!.busy++;
    this.tasks.get(id)!.worker = w;
    const msg: TaskMessage = { id, task };
    this.pool[w]!.worker.postMessage(msg);
  }

  private schedule(step: number): void {
    if (this.pending.has(step) || this.closed) return;
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A prefetched batch can fail before next() awaits it; next() still sees the rejection.
    done.catch(() => undefined);
    const p: Pending = { pairs: new Array<Pair | undefined>(this.batchSize), remaining: this.batchSize, done, resolve, reject };
    this.pending.set(step, p);
    if (this.failure) return p.reject(this.failure);
    for (let slot = 0; slot < this.batchSize; slot++) {
      const id = this.nextTaskId++;
      this.tasks.set(id, { step, slot, worker: -1 });
      this.dispatch(id, { step, slot, index: this.order.indexAt(step * this.batchSize + slot) });
    }
  }

  private onReply(m: WorkerReply): void {
    for (const b of m.bad) this.skips.note(b);
    const t = this.tasks.get(m.id);
    if (!t) return;
    this.tasks.delete(m.id);
    if (t.worker >= 0) this.pool[t.worker]!.busy--;
    const p = this.pending.get(t.step);
    if (!p) return;
    if ('error' in m) return p.reject(new Error(m.error));
    p.pairs[t.slot] = m.pair;
    if (--p.remaining === 0) p.resolve();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
  }
}
