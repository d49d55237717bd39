// The runtime's public surface: sessions, residency, providers and their errors.
export { FeedError, ProviderUnavailableError, ResidencyError } from './errors.js';
export {
  CUDA_INSTALL_SCRIPT,
  CUDA_PROVIDER_FILES,
  CUDA_PROVIDER_PACKAGE,
  type ConcreteProvider,
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  cudaProviderInstalled,
  missingCudaLibraries,
  missingCudaProviderFiles,
  ortBinaryDir,
  providerAttempts,
} from './providers.js';
export { type Downloader, Resident, RunResult, TensorStore, liveGpuTensors, recoveredLeaks } from './residency.js';
export { type ExecuteOptions, type Feed, Session, type SessionOptions, type Tensor, type TensorSpec } from './session.js';
