/**
 * Who owns a run's output tensors, and how they are read.
 *
 * With the WebGPU provider, outputs named in `gpuOutputs` come back as `gpu-buffer` tensors: they
 * can be fed to the next run without a host copy, but each one holds GPU memory until `dispose()`
 * (the garbage collector never frees it), and `getData()` on one aborts the whole process
 * (onnxruntime-node's download callback throws a C string). So:
 *
 * - `session.execute()` returns a `RunResult` that owns every output. `result.dispose()` releases all
 *   of them; any later access throws, on every provider, so a use-after-dispose bug shows on the CPU.
 * - `result.keep(name)` moves one output out of the result into a `Resident` that the caller owns
 *   (to feed into the next run); it survives `result.dispose()` and needs its own `dispose()`.
 * - Reading goes through `read()`: host tensors return their data, device tensors are copied by the
 *   session's downloader (an Identity model on the same device with a host output). `host()` is the
 *   synchronous form and refuses device tensors. Nothing here ever calls `getData()`.
 * - `TensorStore` holds named state (parameters, optimizer state, buffers) across steps: `advance()`
 *   keeps each `next.<name>` output as the new `<name>` and disposes the previous one.
 * - A result or resident that is garbage-collected while still holding GPU memory is released with a
 *   process warning (code MULTISIAM_GPU_LEAK); `liveGpuTensors()` counts what is held right now.
 */
import type ort from 'onnxruntime-node';
import type { DType, TensorData } from '../onnx/dtype.js';
import { FeedError, ResidencyError, listNames } from './errors.js';

type Tensor = ort.Tensor;

/** Copies a device tensor to host memory (never by `getData()`). */
export type Downloader = (tensor: Tensor, what: string) => Promise<TensorData>;

const DTYPES: Readonly<Record<string, DType>> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', uint8: 'uint8', bool: 'bool' };

export function dtypeOfTensor(t: Tensor): DType {
  const d = DTYPES[t.type];
  if (!d) throw new ResidencyError(`tensor type '${t.type}' is not supported (supported: ${Object.keys(DTYPES).join(', ')})`);
  return d;
}

export function isDeviceTensor(t: Tensor): boolean {
  return t.location === 'gpu-buffer' || t.location === 'ml-tensor' || t.location === 'texture';
}

/** One owned tensor; shared between a result and the finalizer that backs it up. */
class Cell {
  constructor(
    public tensor: Tensor | null,
    readonly device: boolean,
    readonly label: string,
  ) {
    if (device) counters.live++;
  }
  /** Releases the tensor; returns whether GPU memory was freed. */
  release(): boolean {
    const t = this.tensor;
    this.tensor = null;
    if (!t || !this.device) return false;
    counters.live--;
    t.dispose();
    return true;
  }
}

const counters = { live: 0, recovered: 0 };

/** GPU tensors currently owned by results and residents (all sessions). Zero after a clean loop. */
export function liveGpuTensors(): number {
  return counters.live;
}

/** GPU tensors released by the garbage-collection safety net, i.e. leaks that were caught. */
export function recoveredLeaks(): number {
  return counters.recovered;
}

const finalizer = new FinalizationRegistry<{ cells: Cell[]; label: string }>(({ cells, label }) => {
  let freed = 0;
  for (const c of cells) if (c.release()) freed++;
  if (freed > 0) {
    counters.recovered += freed;
    process.emitWarning(`${label} was garbage-collected without dispose(); released ${freed} GPU tensor(s) it still held`, { code: 'MULTISIAM_GPU_LEAK' });
  }
});

function readHost(t: Tensor, what: string): TensorData {
  if (isDeviceTensor(t)) {
    throw new ResidencyError(`${what} is on the GPU (${t.location}); read it with 'await read()', which downloads it through the session`);
  }
  return t.data as TensorData;
}

/** A tensor the caller owns: kept from a run to feed the next one, or host data wrapped for a store. */
export class Resident {
  private readonly cell: Cell;
  private readonly token = {};

  constructor(tensor: Tensor, readonly label: string, private readonly downloader: Downloader | null = null) {
    this.cell = new Cell(tensor, isDeviceTensor(tensor), label);
    if (this.cell.device) finalizer.register(this, { cells: [this.cell], label: `resident ${label}` }, this.token);
  }

  /** The underlying ONNX Runtime tensor, to feed a run; throws once disposed. */
  get tensor(): Tensor {
    if (!this.cell.tensor) throw new ResidencyError(`${this.label} was disposed; keep() it from a newer run or re-create it`);
    return this.cell.tensor;
  }
  get disposed(): boolean {
    return this.cell.tensor === null;
  }
  get onDevice(): boolean {
    return this.cell.device;
  }
  get dims(): readonly number[] {
    return this.tensor.dims;
  }
  get dtype(): DType {
    return dtypeOfTensor(this.tensor);
  }
  /** Host data, synchronously; refuses GPU tensors (use `read()`). */
  host(): TensorData {
    return readHost(this.tensor, this.label);
  }
  async read(): Promise<TensorData> {
    const t = this.tensor;
    if (!this.cell.device) return t.data as TensorData;
    if (!this.downloader) throw new ResidencyError(`${this.label} is on the GPU and has no session to download it through`);
    return this.downloader(t, this.label);
  }
  dispose(): void {
    if (this.cell.device) finalizer.unregister(this.token);
    this.cell.release();
  }
}

/** The outputs of one run, owned until `dispose()`. */
export class RunResult {
  private readonly cells = new Map<string, Cell>();
  private readonly kept = new Set<string>();
  private readonly token = {};
  private released = false;

  constructor(outputs: Readonly<Record<string, Tensor>>, readonly label: string, private readonly downloader: Downloader | null = null) {
    const device: Cell[] = [];
    for (const [name, t] of Object.entries(outputs)) {
      const cell = new Cell(t, isDeviceTensor(t), `output '${name}' of ${label}`);
      this.cells.set(name, cell);
      if (cell.device) device.push(cell);
    }
    if (device.length > 0) finalizer.register(this, { cells: device, label }, this.token);
  }

  get names(): readonly string[] {
    return [...this.cells.keys()];
  }
  get disposed(): boolean {
    return this.released;
  }
  has(name: string): boolean {
    return this.cells.has(name);
  }
  dims(name: string): readonly number[] {
    return this.tensor(name).dims;
  }
  dtype(name: string): DType {
    return dtypeOfTensor(this.tensor(name));
  }
  onDevice(name: string): boolean {
    return this.cell(name).device;
  }
  /** The tensor, borrowed: valid until `dispose()` (feed it to another run before then, or `keep()` it). */
  tensor(name: string): Tensor {
    const cell = this.cell(name);
    if (!cell.tensor) throw new ResidencyError(`output '${name}' of ${this.label} was moved out by keep(); use the Resident it returned`);
    return cell.tensor;
  }
  /** Host data, synchronously; refuses GPU tensors (use `read()`). */
  host(name: string): TensorData {
    return readHost(this.tensor(name), `output '${name}' of ${this.label}`);
  }
  async read(name: string): Promise<TensorData> {
    const t = this.tensor(name);
    if (!this.cell(name).device) return t.data as TensorData;
    if (!this.downloader) throw new ResidencyError(`output '${name}' of ${this.label} is on the GPU and has no session to download it through`);
    return this.downloader(t, `output '${name}' of ${this.label}`);
  }
  /** A one-element output as a number (losses, metrics). */
  async scalar(name: string): Promise<number> {
    const data = await this.read(name);
    if (data.length !== 1) throw new ResidencyError(`output '${name}' of ${this.label} has ${data.length} elements, not 1`);
    return Number(data[0]);
  }
  /** Moves an output out of this result; the caller owns (and must dispose) the returned Resident. */
  keep(name: string): Resident {
    const t = this.tensor(name);
    const cell = this.cell(name);
    cell.tensor = null;
    if (cell.device) this.untrackDevice();
    this.kept.add(name);
    return new Resident(t, `output '${name}' of ${this.label}`, this.downloader);
  }
  /** Releases every output not kept. Idempotent. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    finalizer.unregister(this.token);
    for (const cell of this.cells.values()) cell.release();
  }

  private cell(name: string): Cell {
    if (this.released) throw new ResidencyError(`${this.label} was disposed; read or keep() outputs before dispose()`);
    const cell = this.cells.get(name);
    if (!cell) throw new FeedError(`${this.label} has no output '${name}'; its outputs are ${listNames(this.names)}`);
    return cell;
  }

  /** Cell counts moved: the live counter already counts the tensor once, now held by the Resident. */
  private untrackDevice(): void {
    counters.live--;
  }
}

/**
 * Named state carried from step to step (parameters, optimizer state, BN buffers). Values are host
 * arrays or Residents; replacing a Resident disposes the old one, so a loop of
 * `execute(store.feeds()) → store.advance(result) → result.dispose()` holds each tensor exactly once.
 */
export class TensorStore {
  private readonly values = new Map<string, Resident | TensorData>();

  get names(): readonly string[] {
    return [...this.values.keys()];
  }
  has(name: string): boolean {
    return this.values.has(name);
  }
  get(name: string): Resident | TensorData {
    const v = this.values.get(name);
    if (v === undefined) throw new FeedError(`tensor store has no '${name}'; it holds ${listNames(this.names)}`);
    return v;
  }
  /** Sets (or replaces) a value; a replaced Resident is disposed. */
  set(name: string, value: Resident | TensorData): void {
    const old = this.values.get(name);
    if (old instanceof Resident && old !== value) old.dispose();
    this.values.set(name, value);
  }
  /** Feeds for a run: every held value, or only `names`. */
  feeds(names?: readonly string[]): Record<string, Resident | TensorData> {
    const out: Record<string, Resident | TensorData> = {};
    for (const n of names ?? this.names) out[n] = this.get(n);
    return out;
  }
  /**
   * Keeps each output `<prefix><name>` of `result` as the new `<name>` (disposing the old value).
   * Every such name must already be in the store. Returns the names updated.
   */
  advance(result: RunResult, prefix = 'next.'): string[] {
    const updates = result.names.filter((n) => n.startsWith(prefix)).map((n) => [n, n.slice(prefix.length)] as const);
    const unknown = updates.filter(([, name]) => !this.values.has(name)).map(([out]) => out);
    if (unknown.length > 0) {
      throw new FeedError(`${result.label}: output${unknown.length > 1 ? 's' : ''} ${listNames(unknown)} update${unknown.length > 1 ? '' : 's'} nothing in the tensor store (it holds ${listNames(this.names)})`);
    }
    for (const [out, name] of updates) this.set(name, result.keep(out));
    return updates.map(([, name]) => name);
  }
  async read(name: string): Promise<TensorData> {
    const v = this.get(name);
    return v instanceof Resident ? v.read() : v;
  }
  /** Disposes every Resident held and empties the store. */
  dispose(): void {
    for (const v of this.values.values()) if (v instanceof Resident) v.dispose();
    this.values.clear();
  }
}
