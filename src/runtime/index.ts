// The runtime's public surface: sessions, residency, providers and their errors.
export { FeedError, OrtLibraryError, ProviderUnavailableError, ResidencyError } from './errors.js';
export {
  CUDA_PROVIDER_FILES,
  CUDA_PROVIDER_PACKAGE,
  CUDA_SETUP_COMMAND,
  type ConcreteProvider,
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  cudaProviderInstalled,
  missingCudaLibraries,
  missingCudaProviderFiles,
  ortBinaryDir,
  providerAttempts,
} from './providers.js';
export { type Memory, Resident, RunResult, TensorStore, liveGpuTensors, readMany, recoveredLeaks } from './residency.js';
export { type CudaOptions, type ExecuteOptions, type Feed, Session, type SessionOptions, type Tensor, type TensorSpec } from './session.js';
