/**
 * What a caller asks of a session, and the ONNX Runtime settings that follow from it for one
 * provider (a plain plan, so what reaches ORT can be checked without loading a provider).
 */
import type { ConcreteProvider, ExecutionProvider } from './providers.js';

/** CUDA provider settings, passed to ORT in one UpdateCUDAProviderOptions call. */
export interface CudaOptions {
  /** The GPU ordinal (default 0). */
  readonly deviceId?: number;
  /**
   * TF32 for float32 matrix products and convolutions on Ampere and newer: roughly 2× faster
   * kernels with a 10-bit mantissa (results then differ from the CPU by ~1e-3 relative). Off by
   * default, so CUDA results match the CPU to float32 rounding (ORT's own default is on).
   */
  readonly tf32?: boolean;
  /**
   * How cuDNN picks each convolution's algorithm. 'exhaustive' (ORT's default) benchmarks every
   * algorithm on the first run of each shape: the slowest first step, the fastest steps after and
   * more workspace memory. 'heuristic' asks cuDNN's heuristics: a fast first step, kernels that
   * may be slower. 'default' always uses IMPLICIT_PRECOMP_GEMM: no search, usually the slowest.
   */
  readonly cudnnConvAlgoSearch?: 'exhaustive' | 'heuristic' | 'default';
  /**
   * Capture the session's kernels as a CUDA graph and replay it on later runs (no per-kernel
   * launch cost). ORT replays without checking its inputs, so every input and output must keep
   * its device address from run to run: feed device Residents only, write new data into them
   * (`Resident.write`), and bind outputs to preallocated Residents (`execute(…, { outputs })`).
   * Off by default. The session enforces this discipline on every provider once it is on.
   */
  readonly cudaGraph?: boolean;
  /** The most bytes the CUDA memory arena may hold (default: no limit). */
  readonly gpuMemLimit?: number;
  /** How the arena grows: 'nextPowerOfTwo' (ORT's default: fewer allocations, up to 2× waste) or 'sameAsRequested'. */
  readonly arenaExtendStrategy?: 'nextPowerOfTwo' | 'sameAsRequested';
}

export interface SessionOptions {
  /** `cpu` (default), `webgpu`, `cuda`, or `auto` (the first that loads of cuda, webgpu, cpu). */
  readonly ep?: ExecutionProvider;
  readonly threads?: number;
  /** Graph optimisation level; 'basic' by default (with weights as inputs 'all' is often slower). */
  readonly optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Outputs to keep in the provider's memory as Residents (all of them with 'all'): GPU memory on
   * cuda and webgpu, an ONNX Runtime host tensor on cpu (never copied into JS unless read). Every
   * other output is copied into a JS typed array.
   */
  readonly residentOutputs?: readonly string[] | 'all';
  /** External data files for a model given as bytes, by the location the model names. */
  readonly externalData?: readonly { path: string; data: Uint8Array }[];
  /** WebGPU: node names to run on the CPU (kernels that throw on WebGPU). */
  readonly forceCpuNodes?: readonly string[];
  /** WebGPU/CUDA: fail at creation if any node would fall back to the CPU provider. */
  readonly deviceOnly?: boolean;
  readonly cuda?: CudaOptions;
}

/** The ONNX Runtime settings for one provider attempt. */
export interface SessionPlan {
  readonly optimization: NonNullable<SessionOptions['optimization']>;
  readonly threads: number | null;
  /** Session config entries (AddSessionConfigEntry). */
  readonly config: Readonly<Record<string, string>>;
  /** The provider to append and its settings; none for the CPU, which every session has. */
  readonly provider: { readonly name: 'CUDA' | 'WebGPU'; readonly settings: Readonly<Record<string, string>> } | null;
}

const ALGO_SEARCH = { exhaustive: 'EXHAUSTIVE', heuristic: 'HEURISTIC', default: 'DEFAULT' } as const;
const ARENA = { nextPowerOfTwo: 'kNextPowerOfTwo', sameAsRequested: 'kSameAsRequested' } as const;

/** The CUDA provider's option keys and values (all of them: an update resets the keys it is not given). */
export function cudaSettings(cuda: CudaOptions = {}): Record<string, string> {
  return {
    device_id: String(cuda.deviceId ?? 0),
    use_tf32: cuda.tf32 ? '1' : '0',
    cudnn_conv_algo_search: ALGO_SEARCH[cuda.cudnnConvAlgoSearch ?? 'exhaustive'],
    enable_cuda_graph: cuda.cudaGraph ? '1' : '0',
    ...(cuda.gpuMemLimit !== undefined ? { gpu_mem_limit: String(Math.floor(cuda.gpuMemLimit)) } : {}),
    ...(cuda.arenaExtendStrategy ? { arena_extend_strategy: ARENA[cuda.arenaExtendStrategy] } : {}),
  };
}

/**
 * The WebGPU provider reads its settings from session config entries under this prefix; node
 * names forced to the CPU are one entry, separated by newlines (as onnxruntime-node passes them).
 */
const WEBGPU_FORCE_CPU = 'ep.webgpuexecutionprovider.forceCpuNodeNames';

export function sessionPlan(provider: ConcreteProvider, options: SessionOptions): SessionPlan {
  const config: Record<string, string> = {};
  if (options.deviceOnly && provider !== 'cpu') config['session.disable_cpu_ep_fallback'] = '1';
  if (provider === 'webgpu' && options.forceCpuNodes?.length) config[WEBGPU_FORCE_CPU] = options.forceCpuNodes.join('\n');
  return {
    optimization: options.optimization ?? 'basic',
    threads: options.threads ?? null,
    config,
    provider: provider === 'cuda' ? { name: 'CUDA', settings: cudaSettings(options.cuda) } : provider === 'webgpu' ? { name: 'WebGPU', settings: {} } : null,
  };
}
