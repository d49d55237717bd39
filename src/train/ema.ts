/**
 * The target network as an exponential moving average of the online one (SPEC §2.3, §2.7 MoCo):
 * target ← τ·target + (1 − τ)·online after every optimizer step. Tensors are paired by NAME, never by
 * position, so a reordered or renamed parameter is an error instead of a silent mix-up (the pairing
 * bug of position-zipped EMA helpers). BN running statistics travel in the same maps and follow by
 * the same rule (SPEC §2.7, last bullet).
 */

export type NamedTensors = Map<string, Float32Array>;

const LISTED = 5;

function list(names: string[]): string {
  const shown = names.slice(0, LISTED).map((n) => `'${n}'`).join(', ');
  return names.length > LISTED ? `${shown} and ${names.length - LISTED} more` : shown;
}

/**
 * Throws unless `target` and `online` hold the same names with the same element counts; the message
 * lists the names only online has, only the target has, and the size mismatches.
 */
export function checkSameTensors(target: NamedTensors, online: NamedTensors): void {
  const missing: string[] = [];
  const sizes: string[] = [];
  for (const [name, src] of online) {
    const dst = target.get(name);
    if (!dst) missing.push(name);
    else if (dst.length !== src.length) sizes.push(`'${name}' (target ${dst.length}, online ${src.length})`);
  }
  const extra = [...target.keys()].filter((name) => !online.has(name));
  if (missing.length + extra.length + sizes.length === 0) return;
  const parts: string[] = [];
  if (missing.length) parts.push(`missing from the target: ${list(missing)}`);
  if (extra.length) parts.push(`only in the target: ${list(extra)}`);
  if (sizes.length) parts.push(`size mismatch: ${sizes.slice(0, LISTED).join(', ')}${sizes.length > LISTED ? ` and ${sizes.length - LISTED} more` : ''}`);
  throw new Error(
    `EMA: target and online tensors differ — ${parts.join('; ')}. ` +
      'The target must be initialised from the same parameter list (initTarget) and loaded from the same bundle.',
  );
}

/**
 * target ← τ·target + (1 − τ)·online, in place, for every name. Checks everything before touching
 * anything, so a mismatch leaves the target unchanged.
 */
export function emaUpdate(target: NamedTensors, online: NamedTensors, tau: number): void {
  if (!(tau >= 0 && tau <= 1)) throw new RangeError(`EMA: momentum τ must lie in [0, 1], got ${tau}`);
  checkSameTensors(target, online);
  const rest = 1 - tau;
  for (const [name, src] of online) {
    const dst = target.get(name)!;
    for (let i = 0; i < dst.length; i++) dst[i] = tau * dst[i]! + rest * src[i]!;
  }
}

/** A target that starts equal to the online network: a deep copy, so later updates never alias. */
export function initTarget(online: NamedTensors): NamedTensors {
  const copy: NamedTensors = new Map();
  for (const [name, src] of online) copy.set(name, src.slice());
  return copy;
}
