/**
 * Entry of a data worker thread: opens its own copy of the source and turns PairTasks into Pairs,
 * transferring the pixel buffers back instead of copying them. Files found bad are remembered here
 * (so this worker does not decode them again) and reported with the next reply; the loader names
 * each once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type BadFile, openSource } from './sources.js';
import { describeTaskError, producePair } from './pairs.js';
import type { TaskMessage, WorkerInit, WorkerReply } from './loader.js';

if (!parentPort) throw new Error('src/data/worker.js is a worker-thread entry; the PairLoader starts it, do not run it directly');
const port = parentPort;
const init = workerData as WorkerInit;
const source = openSource(init.data);
const known = new Set<number>();
let bad: BadFile[] = [];
const onBad = (b: BadFile): void => {
  known.add(b.index);
  bad.push(b);
};
const takeBad = (): BadFile[] => {
  const out = bad;
  bad = [];
  return out;
};

port.on('message', (msg: TaskMessage) => {
  producePair(source, known, onBad, init.seed, msg.task, init.pair).then(
    (pair) => {
      const transfer: ArrayBuffer[] = [pair.view1.buffer as ArrayBuffer, pair.view2.buffer as ArrayBuffer];
      if (pair.mask1 && pair.mask2) transfer.push(pair.mask1.buffer as ArrayBuffer, pair.mask2.buffer as ArrayBuffer);
      const reply: WorkerReply = { id: msg.id, pair, bad: takeBad() };
      port.postMessage(reply, transfer);
    },
    (e: unknown) => {
      const reply: WorkerReply = { id: msg.id, error: describeTaskError(source, msg.task, e), bad: takeBad() };
      port.postMessage(reply);
    },
  );
});
