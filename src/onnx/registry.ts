/**
 * The op registry, derived from the ops/ barrel: every exported OpDef, keyed by its registry name.
 * A test checks the barrel against the files on disk and every input's gradient rule.
 */
import { GraphError } from './errors.js';
import { type AnyOpDef, OpDef } from './op.js';
import * as ops from './ops/index.js';

export const OPS: readonly AnyOpDef[] = Object.values(ops).filter((v): v is OpDef<never, never> => v instanceof OpDef);

const byName = new Map(OPS.map((op) => [op.name, op]));

/** The definition that reads an ONNX node of `type` (StopGradient is written as, and read back as, Identity). */
export function opForType(type: string, domain = ''): AnyOpDef {
  const op = domain === '' || domain === 'ai.onnx' ? byName.get(type) : undefined;
  if (!op) throw new GraphError(`no op definition for ONNX op '${domain ? domain + '::' : ''}${type}' (known: ${[...byName.keys()].sort().join(', ')})`);
  return op;
}
