/**
 * The process's OrtEnv. ONNX Runtime keeps one environment per process (it owns the logger and
 * the global thread pools, and every session refers to it), so it is created on first use and
 * lives until the process exits: releasing it while any session or value exists is undefined.
 */
import { type EnvHandle, ortApi } from './api.js';

/** OrtLoggingLevel: warnings and errors reach stderr, as with onnxruntime-node's default. */
const LOG_WARNING = 2;

let env: EnvHandle | null = null;

export function ortEnv(): EnvHandle {
  env ??= ortApi().createEnv(LOG_WARNING, 'multisiam');
  return env;
}
