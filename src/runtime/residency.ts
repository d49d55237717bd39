/**
 * Who owns a run's output tensors, where they live, and how they are read.
 *
 * An output is either copied into a JS typed array, or kept where the provider put it as an
 * ONNX Runtime value (`residentOutputs`): in GPU memory on cuda and webgpu, in ORT's host memory on
 * cpu. A kept value can be fed to the next run without a copy, but it holds native memory that the
 * garbage collector never sees, so:
 *
 * - `session.execute()` returns a `RunResult` that owns every output. `result.dispose()` releases all
 *   of them; any later access throws, on every provider, so a use-after-dispose bug shows on the CPU.
 * - `result.keep(name)` moves one output out of the result into a `Resident` that the caller owns
 *   (to feed into the next run); it survives `result.dispose()` and needs its own `dispose()`.
 * - Reading goes through `read()`: host data is returned (copied out of ORT's memory), device data
 *   is downloaded through the session that made it (see transfer.ts). `host()` is the synchronous
 *   form and refuses device tensors. `readMany()` downloads a whole set in one run per device.
 * - `TensorStore` holds named state (parameters, optimizer state, buffers) across steps: `advance()`
 *   keeps each `next.<name>` output as the new `<name>` and disposes the previous one.
 * - A result or resident that is garbage-collected while still holding native memory is released
 *   with a process warning (code MULTISIAM_GPU_LEAK); `liveGpuTensors()` counts the tensors held in
 *   GPU memory right now.
 */
import type { DType, TensorData } from '../onnx/dtype.js';
import { FeedError, ResidencyError, listNames } from './errors.js';
import type { ValueHandle } from './ort/api.js';
import { readHostTensor, releaseValue, writeHostTensor } from './ort/value.js';

/**
 * Where a tensor's data is: 'js' a JS typed array; 'host' an ONNX Runtime tensor in host memory
 * (a resident on the cpu provider); 'cuda' or 'webgpu' that provider's device memory.
 */
export type Memory = 'js' | 'host' | 'cuda' | 'webgpu';

/** The copies to and from device memory that only a session on that device can make (transfer.ts). */
export interface DeviceLink {
  download(cells: readonly Cell[]): Promise<TensorData[]>;
  write(cell: Cell, data: TensorData): Promise<void>;
}

const counters = { live: 0, recovered: 0 };

/** Session releases waiting for the last device tensor to go (see releaseAfterDeviceTensors). */
const pending: (() => void)[] = [];

function deviceTensorGone(): void {
  counters.live--;
  if (counters.live === 0) for (const release of pending.splice(0)) release();
}

/**
 * Runs `release` (a device session's native release) now if no device tensor is alive, else once the
 * last one is released: device buffers belong to the device context their sessions hold (on WebGPU,
 * disposing a buffer after that context went away crashed the process), so a caller may release its
 * sessions and its tensors in either order.
 */
export function releaseAfterDeviceTensors(release: () => void): void {
  if (counters.live === 0) release();
  else pending.push(release);
}

/** One owned tensor: JS data or an ORT value. Shared between its owner and the finalizer that backs it up. */
export class Cell {
  private value: ValueHandle | null;
  private data: TensorData | null;

  constructor(
    readonly memory: Memory,
    readonly dtype: DType,
    readonly dims: readonly number[],
    readonly label: string,
    contents: ValueHandle | TensorData,
  ) {
    const isData = ArrayBuffer.isView(contents);
    this.value = isData ? null : contents;
    this.data = isData ? contents : null;
    if (this.device) counters.live++;
  }

  get device(): boolean {
    return this.memory === 'cuda' || this.memory === 'webgpu';
  }
  get live(): boolean {
    return this.value !== null || this.data !== null;
  }
  /** The ORT value to bind, or null for JS data; throws once released. */
  native(what: string): ValueHandle | null {
    if (!this.live) throw new ResidencyError(`${what} was disposed`);
    return this.value;
  }
  /** The JS data (memory 'js' only). */
  js(): TensorData | null {
    return this.data;
  }
  /** Host data, synchronously: JS data as is, an ORT host tensor copied out; null for device memory. */
  hostData(): TensorData | null {
    if (this.data) return this.data;
    if (this.value && this.memory === 'host') return readHostTensor(this.value, this.dtype, this.dims);
    return null;
  }
  /** Overwrites host contents in place (memory 'js' or 'host'). */
  writeHost(data: TensorData): void {
    if (this.data) this.data.set(data as never);
    else if (this.value && this.memory === 'host') writeHostTensor(this.value, data);
  }
  /** A new cell owning this one's contents; this one is left empty (the GPU count is unchanged). */
  moveOut(label: string): Cell {
    const moved = new Cell(this.memory, this.dtype, this.dims, label, (this.value ?? this.data)!);
    this.value = null;
    this.data = null;
    // The moved cell counted itself in; this one's count goes (no release can be due: moved is alive).
    if (this.device) counters.live--;
    return moved;
  }
  /** Releases the contents; returns the memory an ORT value was released from, if any. */
  release(): Memory | null {
    const value = this.value;
    this.value = null;
    this.data = null;
    if (!value) return null;
    releaseValue(value);
    if (this.device) deviceTensorGone();
    return this.memory;
  }
}

/** Tensors in GPU memory currently owned by results and residents (all sessions). Zero after a clean loop. */
export function liveGpuTensors(): number {
  return counters.live;
}

/** Native tensors released by the garbage-collection safety net, i.e. leaks that were caught. */
export function recoveredLeaks(): number {
  return counters.recovered;
}

const finalizer = new FinalizationRegistry<{ cells: Cell[]; label: string }>(({ cells, label }) => {
  let gpu = 0;
  let host = 0;
  for (const c of cells) {
    const freed = c.release();
    if (freed === 'host') host++;
    else if (freed) gpu++;
  }
  if (gpu + host === 0) return;
  counters.recovered += gpu + host;
  const what = [gpu > 0 ? `${gpu} GPU tensor(s)` : '', host > 0 ? `${host} ONNX Runtime host tensor(s)` : ''].filter(Boolean).join(' and ');
  process.emitWarning(`${label} was garbage-collected without dispose(); released ${what} it still held`, { code: 'MULTISIAM_GPU_LEAK' });
});

function onGpuMessage(what: string, memory: Memory): string {
  return `${what} is in ${memory} device memory; read it with 'await read()', which downloads it through the session that made it`;
}

/** A tensor the caller owns: kept from a run to feed the next one, or uploaded with `session.upload()`. */
export class Resident {
  private readonly token = {};

  /** Made by the runtime (RunResult.keep, Session.upload); `link` downloads and writes device memory. */
  constructor(
    private readonly cell: Cell,
    private readonly link: DeviceLink | null,
  ) {
    if (cell.memory !== 'js') finalizer.register(this, { cells: [cell], label: `resident ${cell.label}` }, this.token);
  }

  get label(): string {
    return this.cell.label;
  }
  get disposed(): boolean {
    return !this.cell.live;
  }
  get memory(): Memory {
    return this.cell.memory;
  }
  get onDevice(): boolean {
    return this.cell.device;
  }
  get dims(): readonly number[] {
    this.alive();
    return this.cell.dims;
  }
  get dtype(): DType {
    this.alive();
    return this.cell.dtype;
  }
  /** Host data, synchronously; refuses GPU tensors (use `read()`). */
  host(): TensorData {
    this.alive();
    const data = this.cell.hostData();
    if (!data) throw new ResidencyError(onGpuMessage(this.label, this.memory));
    return data;
  }
  async read(): Promise<TensorData> {
    this.alive();
    return this.cell.hostData() ?? (await this.deviceLink().download([this.cell]))[0]!;
  }
  /**
   * Overwrites the contents in place (same dtype and element count), keeping the tensor's address:
   * what a CUDA-graph loop needs to feed a new batch. Device memory is written by a copy run, so
   * await it before the next run that reads this resident.
   */
  async write(data: TensorData): Promise<void> {
    this.alive();
    const n = this.cell.dims.reduce((a, b) => a * b, 1);
    if (data.length !== n || arrayDType(data, this.cell.dtype) !== this.cell.dtype) {
      throw new FeedError(`${this.label} holds ${this.cell.dtype} [${this.cell.dims.join(',')}] (${n} elements); cannot write a ${data.constructor.name} of ${data.length} elements into it`);
    }
    if (this.cell.device) await this.deviceLink().write(this.cell, data);
    else this.cell.writeHost(data);
  }
  dispose(): void {
    finalizer.unregister(this.token);
    this.cell.release();
  }

  /** The cell behind this resident, for the runtime to bind (not for callers). */
  get contents(): Cell {
    this.alive();
    return this.cell;
  }

  /** The session copies for this resident's device memory, for the runtime (not for callers). */
  deviceLink(): DeviceLink {
    if (!this.link) throw new ResidencyError(`${this.label} is in ${this.memory} device memory and has no session to copy it through`);
    return this.link;
  }

  private alive(): void {
    if (!this.cell.live) throw new ResidencyError(`${this.label} was disposed; keep() it from a newer run or re-create it`);
  }
}

/** The dtype a typed array holds, preferring `wanted` where the array type is shared (uint8 and bool). */
export function arrayDType(data: TensorData, wanted?: DType): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return wanted === 'bool' ? 'bool' : 'uint8';
  return null;
}

/**
 * Downloads many residents at once (e.g. every parameter for a checkpoint): one copy run per
 * device session instead of one per tensor. Host residents are copied out directly.
 */
export async function readMany(residents: readonly Resident[]): Promise<TensorData[]> {
  const out: TensorData[] = new Array(residents.length);
  const groups = new Map<DeviceLink, number[]>();
  residents.forEach((r, i) => {
    const data = r.contents.hostData();
    if (data) {
      out[i] = data;
      return;
    }
    const link = r.deviceLink();
    groups.set(link, [...(groups.get(link) ?? []), i]);
  });
  for (const [link, indices] of groups) {
    const data = await link.download(indices.map((i) => residents[i]!.contents));
    indices.forEach((i, k) => (out[i] = data[k]!));
  }
  return out;
}

/** The outputs of one run, owned until `dispose()`. */
export class RunResult {
  private readonly token = {};
  private released = false;

  /** Made by the runtime; `link` downloads the device outputs. */
  constructor(
    private readonly cells: ReadonlyMap<string, Cell>,
    readonly label: string,
    private readonly link: DeviceLink | null,
  ) {
    const native = [...cells.values()].filter((c) => c.memory !== 'js');
    if (native.length > 0) finalizer.register(this, { cells: native, label }, this.token);
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
    return this.live(name).dims;
  }
  dtype(name: string): DType {
    return this.live(name).dtype;
  }
  memory(name: string): Memory {
    return this.live(name).memory;
  }
  onDevice(name: string): boolean {
    return this.live(name).device;
  }
  /** Host data, synchronously; refuses GPU tensors (use `read()`). */
  host(name: string): TensorData {
    const cell = this.live(name);
    const data = cell.hostData();
    if (!data) throw new ResidencyError(onGpuMessage(`output '${name}' of ${this.label}`, cell.memory));
    return data;
  }
  async read(name: string): Promise<TensorData> {
    const cell = this.live(name);
    const data = cell.hostData();
    if (data) return data;
    if (!this.link) throw new ResidencyError(`output '${name}' of ${this.label} is in ${cell.memory} device memory and has no session to download it through`);
    return (await this.link.download([cell]))[0]!;
  }
  /** A one-element output as a number (losses, metrics). */
  async scalar(name: string): Promise<number> {
    const data = await this.read(name);
    if (data.length !== 1) throw new ResidencyError(`output '${name}' of ${this.label} has ${data.length} elements, not 1`);
    return Number(data[0]);
  }
  /** Moves an output out of this result; the caller owns (and must dispose) the returned Resident. */
  keep(name: string): Resident {
    const cell = this.live(name);
    return new Resident(cell.moveOut(`output '${name}' of ${this.label}`), this.link);
  }
  /** Releases every output not kept. Idempotent. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    finalizer.unregister(this.token);
    for (const cell of this.cells.values()) cell.release();
  }

  private live(name: string): Cell {
    if (this.released) throw new ResidencyError(`${this.label} was disposed; read or keep() outputs before dispose()`);
    const cell = this.cells.get(name);
    if (!cell) throw new FeedError(`${this.label} has no output '${name}'; its outputs are ${listNames(this.names)}`);
    if (!cell.live) throw new ResidencyError(`output '${name}' of ${this.label} was moved out by keep(); use the Resident it returned`);
    return cell;
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
