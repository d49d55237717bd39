/** The method registry: `framework: moco` selects MoCo-based MultiSiam, otherwise `method` picks. */
import type { MultiSiamConfig } from '../../config/index.js';
import { byol } from './byol.js';
import type { Method } from './method.js';
import { moco } from './moco.js';
import { multisiam } from './multisiam.js';

export const METHODS = { multisiam, byol, moco } as const satisfies Record<string, Method>;
export type MethodName = keyof typeof METHODS;

export function methodName(cfg: MultiSiamConfig): MethodName {
  return cfg.framework === 'moco' ? 'moco' : cfg.method;
}

export function methodFor(cfg: MultiSiamConfig): Method {
  return METHODS[methodName(cfg)];
}
