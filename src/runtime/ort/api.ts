/**
 * The koffi binding of the `OrtApi` functions this runtime calls, with typed wrappers.
 *
 * Every ONNX Runtime function returns an `OrtStatus*` (NULL on success); the wrappers turn a
 * non-null status into a thrown `OrtError` carrying ORT's message and code, and release the status.
 * Handles are pointers (BigInts from koffi), branded by what they point to so a session cannot be
 * passed where a value is expected. A wrong pointer crashes the process instead of throwing, so
 * nothing outside src/runtime/ort sees a raw pointer, and no JS typed array ever serves as tensor
 * memory: tensors are allocated by ORT and host data is copied in and out with memcpy.
 *
 * Slot indices are zero-based positions in `struct OrtApi` (ORT_API_VERSION 29; the table only
 * grows, so they hold for every later version); see shared/reference/ort-c-api.md.
 */
import koffi from 'koffi';
import type { TensorData } from '../../onnx/dtype.js';
import { ortLibrary } from './library.js';

/** A pointer to an ONNX Runtime object of kind K. */
export type Handle<K extends string> = bigint & { readonly __ort: K };
export type EnvHandle = Handle<'Env'>;
export type SessionOptionsHandle = Handle<'SessionOptions'>;
export type SessionHandle = Handle<'Session'>;
export type ValueHandle = Handle<'Value'>;
export type MemoryInfoHandle = Handle<'MemoryInfo'>;
export type AllocatorHandle = Handle<'Allocator'>;
export type IoBindingHandle = Handle<'IoBinding'>;
export type RunOptionsHandle = Handle<'RunOptions'>;
/** Memory ORT allocated with an allocator (names, external-data buffers); freed with `free()`. */
export type HostPointer = Handle<'HostMemory'>;

/** OrtErrorCode, by value. */
const ERROR_CODES = [
  'ORT_OK', 'ORT_FAIL', 'ORT_INVALID_ARGUMENT', 'ORT_NO_SUCHFILE', 'ORT_NO_MODEL', 'ORT_ENGINE_ERROR', 'ORT_RUNTIME_EXCEPTION',
  'ORT_INVALID_PROTOBUF', 'ORT_MODEL_LOADED', 'ORT_NOT_IMPLEMENTED', 'ORT_INVALID_GRAPH', 'ORT_EP_FAIL', 'ORT_MODEL_LOAD_CANCELED',
  'ORT_MODEL_REQUIRES_COMPILATION', 'ORT_NOT_FOUND',
] as const;

/** A failed ONNX Runtime call: ORT's own message, its numeric code and the code's name. */
export class OrtError extends Error {
  override name = 'OrtError';
  readonly codeName: string;
  constructor(message: string, readonly code: number, readonly call: string) {
    super(message);
    this.codeName = ERROR_CODES[code] ?? `ORT error ${code}`;
  }
}

/** `struct OrtApi` slots: [index, koffi prototype]. Out-parameters are `void*` (8-byte buffers). */
const SLOTS = {
  GetErrorCode: [1, 'int GetErrorCode(void* status)'],
  GetErrorMessage: [2, 'const char* GetErrorMessage(void* status)'],
  CreateEnv: [3, 'void* CreateEnv(int level, const char* logid, void* out)'],
  CreateSession: [7, 'void* CreateSession(void* env, const char* path, void* options, void* out)'],
  CreateSessionFromArray: [8, 'void* CreateSessionFromArray(void* env, const void* data, size_t length, void* options, void* out)'],
  CreateSessionOptions: [10, 'void* CreateSessionOptions(void* out)'],
  SetSessionGraphOptimizationLevel: [23, 'void* SetSessionGraphOptimizationLevel(void* options, int level)'],
  SetIntraOpNumThreads: [24, 'void* SetIntraOpNumThreads(void* options, int threads)'],
  SessionGetInputCount: [30, 'void* SessionGetInputCount(void* session, void* out)'],
  SessionGetOutputCount: [31, 'void* SessionGetOutputCount(void* session, void* out)'],
  SessionGetInputTypeInfo: [33, 'void* SessionGetInputTypeInfo(void* session, size_t index, void* out)'],
  SessionGetOutputTypeInfo: [34, 'void* SessionGetOutputTypeInfo(void* session, size_t index, void* out)'],
  SessionGetInputName: [36, 'void* SessionGetInputName(void* session, size_t index, void* allocator, void* out)'],
  SessionGetOutputName: [37, 'void* SessionGetOutputName(void* session, size_t index, void* allocator, void* out)'],
  CreateRunOptions: [39, 'void* CreateRunOptions(void* out)'],
  CreateTensorAsOrtValue: [48, 'void* CreateTensorAsOrtValue(void* allocator, const int64_t* shape, size_t rank, int type, void* out)'],
  GetTensorMutableData: [51, 'void* GetTensorMutableData(void* value, void* out)'],
  CastTypeInfoToTensorInfo: [55, 'void* CastTypeInfoToTensorInfo(void* typeInfo, void* out)'],
  GetTensorElementType: [60, 'void* GetTensorElementType(void* tensorInfo, void* out)'],
  GetDimensionsCount: [61, 'void* GetDimensionsCount(void* tensorInfo, void* out)'],
  GetDimensions: [62, 'void* GetDimensions(void* tensorInfo, void* out, size_t length)'],
  GetTensorTypeAndShape: [65, 'void* GetTensorTypeAndShape(void* value, void* out)'],
  CreateMemoryInfo: [68, 'void* CreateMemoryInfo(const char* name, int allocatorType, int deviceId, int memType, void* out)'],
  CreateCpuMemoryInfo: [69, 'void* CreateCpuMemoryInfo(int allocatorType, int memType, void* out)'],
  AllocatorAlloc: [75, 'void* AllocatorAlloc(void* allocator, size_t size, void* out)'],
  AllocatorFree: [76, 'void* AllocatorFree(void* allocator, void* pointer)'],
  GetAllocatorWithDefaultOptions: [78, 'void* GetAllocatorWithDefaultOptions(void* out)'],
  ReleaseStatus: [93, 'void ReleaseStatus(void* status)'],
  ReleaseMemoryInfo: [94, 'void ReleaseMemoryInfo(void* info)'],
  ReleaseSession: [95, 'void ReleaseSession(void* session)'],
  ReleaseValue: [96, 'void ReleaseValue(void* value)'],
  ReleaseRunOptions: [97, 'void ReleaseRunOptions(void* options)'],
  ReleaseTypeInfo: [98, 'void ReleaseTypeInfo(void* typeInfo)'],
  ReleaseTensorTypeAndShapeInfo: [99, 'void ReleaseTensorTypeAndShapeInfo(void* tensorInfo)'],
  ReleaseSessionOptions: [100, 'void ReleaseSessionOptions(void* options)'],
  AddSessionConfigEntry: [130, 'void* AddSessionConfigEntry(void* options, const char* key, const char* value)'],
  CreateAllocator: [131, 'void* CreateAllocator(void* session, void* memoryInfo, void* out)'],
  ReleaseAllocator: [132, 'void ReleaseAllocator(void* allocator)'],
  RunWithBinding: [133, 'void* RunWithBinding(void* session, void* runOptions, void* binding)'],
  CreateIoBinding: [134, 'void* CreateIoBinding(void* session, void* out)'],
  ReleaseIoBinding: [135, 'void ReleaseIoBinding(void* binding)'],
  BindInput: [136, 'void* BindInput(void* binding, const char* name, void* value)'],
  BindOutput: [137, 'void* BindOutput(void* binding, const char* name, void* value)'],
  BindOutputToDevice: [138, 'void* BindOutputToDevice(void* binding, const char* name, void* memoryInfo)'],
  GetBoundOutputValues: [140, 'void* GetBoundOutputValues(void* binding, void* allocator, void* out, void* count)'],
  AddRunConfigEntry: [165, 'void* AddRunConfigEntry(void* options, const char* key, const char* value)'],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, 'void* SessionOptionsAppendExecutionProvider_CUDA_V2(void* options, void* cudaOptions)'],
  CreateCUDAProviderOptions: [205, 'void* CreateCUDAProviderOptions(void* out)'],
  UpdateCUDAProviderOptions: [206, 'void* UpdateCUDAProviderOptions(void* cudaOptions, const char** keys, const char** values, size_t count)'],
  ReleaseCUDAProviderOptions: [208, 'void ReleaseCUDAProviderOptions(void* cudaOptions)'],
  SessionOptionsAppendExecutionProvider: [216, 'void* SessionOptionsAppendExecutionProvider(void* options, const char* provider, const char** keys, const char** values, size_t count)'],
  AddExternalInitializersFromFilesInMemory: [279, 'void* AddExternalInitializersFromFilesInMemory(void* options, const char** names, void* buffers, void* lengths, size_t count)'],
} as const;

type SlotName = keyof typeof SLOTS;
type NativeFunction = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };
type Status = bigint | null;

/** The kinds of ORT objects this API counts from creation to release. */
type CountedKind = 'Session' | 'SessionOptions' | 'Value' | 'IoBinding' | 'RunOptions' | 'MemoryInfo' | 'Allocator';

/** Memory infos: OrtAllocatorType and OrtMemType values used here. */
const DEVICE_ALLOCATOR = 0;
const MEM_TYPE_DEFAULT = 0;

/** Graph optimisation levels (GraphOptimizationLevel). */
export const OPTIMIZATION_LEVEL = { disabled: 0, basic: 1, extended: 2, all: 99 } as const;

/** The bound API: one instance per process (see `ortApi()`). */
export class OrtApi {
  private readonly fn: Record<SlotName, NativeFunction>;
  private readonly libc: ReturnType<typeof koffi.load>;
  private readonly memcpy: (dst: unknown, src: unknown, bytes: number) => unknown;
  /** Out-parameter scratch for synchronous calls: JS runs one of them at a time. */
  private readonly out = new BigUint64Array(1);
  private readonly count = new BigUint64Array(1);
  private readonly int = new Int32Array(1);
  private readonly counts: Record<CountedKind, number> = { Session: 0, SessionOptions: 0, Value: 0, IoBinding: 0, RunOptions: 0, MemoryInfo: 0, Allocator: 0 };
  readonly allocator: AllocatorHandle;

  constructor(table: bigint) {
    const slots = koffi.decode(table, 'void *', Math.max(...Object.values(SLOTS).map(([slot]) => slot)) + 1) as bigint[];
    this.fn = Object.fromEntries(
      Object.entries(SLOTS).map(([name, [slot, proto]]) => [name, koffi.decode(slots[slot]!, koffi.proto(proto)) as NativeFunction]),
    ) as Record<SlotName, NativeFunction>;
    // memcpy takes a typed array as a pointer to its own memory for the duration of the call. The
    // library handle is kept: koffi closes a library whose handle is garbage-collected.
    this.libc = koffi.load('libc.so.6');
    this.memcpy = this.libc.func('void* memcpy(void* dst, const void* src, size_t n)') as (dst: unknown, src: unknown, bytes: number) => unknown;
    this.allocator = this.outHandle<'Allocator'>('GetAllocatorWithDefaultOptions');
  }

  // Errors

  private check(call: SlotName, status: Status): void {
    if (!status) return;
    const code = this.fn.GetErrorCode(status) as number;
    const message = String(this.fn.GetErrorMessage(status));
    this.fn.ReleaseStatus(status);
    throw new OrtError(message, code, call);
  }

  private call(name: SlotName, ...args: unknown[]): void {
    this.check(name, this.fn[name](...args) as Status);
  }

  /** Calls a function whose last parameter is a pointer out-parameter and returns it. */
  private outHandle<K extends string>(name: SlotName, ...args: unknown[]): Handle<K> {
    this.out[0] = 0n;
    this.call(name, ...args, this.out);
    return this.out[0] as Handle<K>;
  }

  /** ORT objects created through this API and not yet released, by kind (for leak tests). */
  liveObjects(): Readonly<Record<CountedKind, number>> {
    return { ...this.counts };
  }

  private created<H>(kind: CountedKind, handle: H): H {
    this.counts[kind]++;
    return handle;
  }

  private released(kind: CountedKind): void {
    this.counts[kind]--;
  }

  private outCount(name: SlotName, ...args: unknown[]): number {
    this.call(name, ...args, this.out);
    return Number(this.out[0]);
  }

  // Environment, session options, sessions

  createEnv(logLevel: number, logId: string): EnvHandle {
    return this.outHandle('CreateEnv', logLevel, logId);
  }
  createSessionOptions(): SessionOptionsHandle {
    return this.created('SessionOptions', this.outHandle('CreateSessionOptions'));
  }
  releaseSessionOptions(options: SessionOptionsHandle): void {
    this.fn.ReleaseSessionOptions(options);
    this.released('SessionOptions');
  }
  setOptimizationLevel(options: SessionOptionsHandle, level: keyof typeof OPTIMIZATION_LEVEL): void {
    this.call('SetSessionGraphOptimizationLevel', options, OPTIMIZATION_LEVEL[level]);
  }
  setIntraOpThreads(options: SessionOptionsHandle, threads: number): void {
    this.call('SetIntraOpNumThreads', options, threads);
  }
  addSessionConfigEntry(options: SessionOptionsHandle, key: string, value: string): void {
    this.call('AddSessionConfigEntry', options, key, value);
  }
  appendProvider(options: SessionOptionsHandle, provider: string, settings: Readonly<Record<string, string>>): void {
    const keys = Object.keys(settings);
    this.call('SessionOptionsAppendExecutionProvider', options, provider, keys, keys.map((k) => settings[k]!), keys.length);
  }
  /** Appends the CUDA provider with every setting in one UpdateCUDAProviderOptions call (it resets unsupplied keys). */
  appendCuda(options: SessionOptionsHandle, settings: Readonly<Record<string, string>>): void {
    const cuda = this.outHandle<'CUDAProviderOptions'>('CreateCUDAProviderOptions');
    try {
      const keys = Object.keys(settings);
      this.call('UpdateCUDAProviderOptions', cuda, keys, keys.map((k) => settings[k]!), keys.length);
      this.call('SessionOptionsAppendExecutionProvider_CUDA_V2', options, cuda);
    } finally {
      this.fn.ReleaseCUDAProviderOptions(cuda);
    }
  }
  /** Registers external-data files held in ORT-allocated memory (which must outlive the session). */
  addExternalDataInMemory(options: SessionOptionsHandle, files: readonly { name: string; data: HostPointer; bytes: number }[]): void {
    const pointers = BigUint64Array.from(files.map((f) => f.data));
    const lengths = BigUint64Array.from(files.map((f) => BigInt(f.bytes)));
    this.call('AddExternalInitializersFromFilesInMemory', options, files.map((f) => f.name), pointers, lengths, files.length);
  }
  createSession(env: EnvHandle, model: string | Uint8Array, options: SessionOptionsHandle): SessionHandle {
    const session: SessionHandle = typeof model === 'string' ? this.outHandle('CreateSession', env, model, options) : this.outHandle('CreateSessionFromArray', env, model, model.byteLength, options);
    return this.created('Session', session);
  }
  releaseSession(session: SessionHandle): void {
    this.fn.ReleaseSession(session);
    this.released('Session');
  }
  ioCount(session: SessionHandle, kind: 'input' | 'output'): number {
    return this.outCount(kind === 'input' ? 'SessionGetInputCount' : 'SessionGetOutputCount', session);
  }
  ioName(session: SessionHandle, kind: 'input' | 'output', index: number): string {
    const p = this.outHandle<'HostMemory'>(kind === 'input' ? 'SessionGetInputName' : 'SessionGetOutputName', session, index, this.allocator);
    const name = koffi.decode(p, 'char', -1) as string;
    this.free(p);
    return name;
  }
  /** Element type and dimensions of a session input or output (symbolic dimensions are -1); null if not a tensor. */
  ioType(session: SessionHandle, kind: 'input' | 'output', index: number): { elementType: number; dims: number[] } | null {
    const typeInfo = this.outHandle<'TypeInfo'>(kind === 'input' ? 'SessionGetInputTypeInfo' : 'SessionGetOutputTypeInfo', session, index);
    try {
      // The tensor info belongs to the type info: not released separately.
      const info = this.outHandle<'TensorInfo'>('CastTypeInfoToTensorInfo', typeInfo);
      return info ? this.tensorInfo(info) : null;
    } finally {
      this.fn.ReleaseTypeInfo(typeInfo);
    }
  }

  private tensorInfo(info: Handle<'TensorInfo'>): { elementType: number; dims: number[] } {
    this.call('GetTensorElementType', info, this.int);
    const elementType = this.int[0]!;
    const rank = this.outCount('GetDimensionsCount', info);
    const dims = new BigInt64Array(rank);
    this.call('GetDimensions', info, dims, rank);
    return { elementType, dims: Array.from(dims, Number) };
  }

  // Memory

  cpuMemoryInfo(): MemoryInfoHandle {
    return this.created('MemoryInfo', this.outHandle('CreateCpuMemoryInfo', DEVICE_ALLOCATOR, MEM_TYPE_DEFAULT));
  }
  deviceMemoryInfo(name: string, deviceId: number): MemoryInfoHandle {
    return this.created('MemoryInfo', this.outHandle('CreateMemoryInfo', name, DEVICE_ALLOCATOR, deviceId, MEM_TYPE_DEFAULT));
  }
  releaseMemoryInfo(info: MemoryInfoHandle): void {
    this.fn.ReleaseMemoryInfo(info);
    this.released('MemoryInfo');
  }
  /**
   * The session's own allocator for `memory` (on the CPU, its arena): memory it hands out is reused
   * from run to run, where the default allocator returns large blocks to the OS and every copy into
   * a fresh block pays its page faults (measured: 31 MB of copies took 41 ms that way). Release it
   * before the session; tensors allocated from it keep what they need alive.
   */
  createSessionAllocator(session: SessionHandle, memory: MemoryInfoHandle): AllocatorHandle {
    return this.created('Allocator', this.outHandle('CreateAllocator', session, memory));
  }
  releaseAllocator(allocator: AllocatorHandle): void {
    this.fn.ReleaseAllocator(allocator);
    this.released('Allocator');
  }
  /** Host memory from ORT's default CPU allocator. */
  alloc(bytes: number): HostPointer {
    return this.outHandle('AllocatorAlloc', this.allocator, Math.max(1, bytes));
  }
  free(pointer: HostPointer): void {
    this.call('AllocatorFree', this.allocator, pointer);
  }
  /** Copies a typed array into host memory ORT owns. */
  copyIn(dst: HostPointer, src: TensorData): void {
    if (src.byteLength > 0) this.memcpy(dst, src, src.byteLength);
  }
  /** Copies host memory ORT owns into a typed array (its whole length). */
  copyOut(dst: TensorData, src: HostPointer): void {
    if (dst.byteLength > 0) this.memcpy(dst, src, dst.byteLength);
  }

  // Values

  /** An uninitialised host tensor from a CPU allocator (ORT's default one unless given). */
  createHostTensor(elementType: number, dims: readonly number[], allocator: AllocatorHandle = this.allocator): ValueHandle {
    return this.created('Value', this.outHandle('CreateTensorAsOrtValue', allocator, BigInt64Array.from(dims, BigInt), dims.length, elementType));
  }
  /** The tensor's data pointer; only ever used for host tensors (never view a device pointer). */
  hostData(value: ValueHandle): HostPointer {
    return this.outHandle('GetTensorMutableData', value);
  }
  tensorType(value: ValueHandle): { elementType: number; dims: number[] } {
    const info = this.outHandle<'TensorInfo'>('GetTensorTypeAndShape', value);
    try {
      return this.tensorInfo(info);
    } finally {
      this.fn.ReleaseTensorTypeAndShapeInfo(info);
    }
  }
  releaseValue(value: ValueHandle): void {
    this.fn.ReleaseValue(value);
    this.released('Value');
  }

  // IO binding and runs

  createIoBinding(session: SessionHandle): IoBindingHandle {
    return this.created('IoBinding', this.outHandle('CreateIoBinding', session));
  }
  releaseIoBinding(binding: IoBindingHandle): void {
    this.fn.ReleaseIoBinding(binding);
    this.released('IoBinding');
  }
  bindInput(binding: IoBindingHandle, name: string, value: ValueHandle): void {
    this.call('BindInput', binding, name, value);
  }
  bindOutput(binding: IoBindingHandle, name: string, value: ValueHandle): void {
    this.call('BindOutput', binding, name, value);
  }
  bindOutputToDevice(binding: IoBindingHandle, name: string, memory: MemoryInfoHandle): void {
    this.call('BindOutputToDevice', binding, name, memory);
  }
  /** The bound outputs after a run, in binding order; the caller owns (and releases) each value. */
  boundOutputValues(binding: IoBindingHandle): ValueHandle[] {
    this.out[0] = 0n;
    this.count[0] = 0n;
    this.call('GetBoundOutputValues', binding, this.allocator, this.out, this.count);
    const n = Number(this.count[0]);
    if (n === 0) return [];
    const array = this.out[0] as HostPointer;
    const values = koffi.decode(array, 'void *', n) as ValueHandle[];
    this.free(array);
    this.counts.Value += n;
    return values;
  }
  createRunOptions(): RunOptionsHandle {
    return this.created('RunOptions', this.outHandle('CreateRunOptions'));
  }
  addRunConfigEntry(options: RunOptionsHandle, key: string, value: string): void {
    this.call('AddRunConfigEntry', options, key, value);
  }
  releaseRunOptions(options: RunOptionsHandle): void {
    this.fn.ReleaseRunOptions(options);
    this.released('RunOptions');
  }
  /** Runs on a worker thread (koffi's async call), so the event loop stays live during a long run. */
  runWithBinding(session: SessionHandle, options: RunOptionsHandle, binding: IoBindingHandle): Promise<void> {
    return new Promise((resolve, reject) => {
      this.fn.RunWithBinding.async(session, options, binding, (error: unknown, status: Status) => {
        if (error) return reject(error as Error);
        try {
          this.check('RunWithBinding', status);
          resolve();
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }
}

let api: OrtApi | null = null;

/** The process's bound ONNX Runtime API (loads the library on first use; see library.ts). */
export function ortApi(): OrtApi {
  api ??= new OrtApi(ortLibrary().api);
  return api;
}
