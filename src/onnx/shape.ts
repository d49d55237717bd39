/** Shape arithmetic shared by shape rules, VJP rules and the autodiff engine. */
import { elementAt, formatShape } from './dtype.js';
import type { Value } from './ir.js';

/** Numpy-style broadcast of two shapes, or null when they are incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Broadcast of several shapes; `fail` names the first incompatible pair. */
export function broadcastAll(shapes: readonly (readonly number[])[], fail: (m: string) => never): number[] {
  let out: number[] = [];
  for (const s of shapes) {
    const next = broadcastShapes(out, s);
    if (!next) fail(`shapes ${formatShape(out)} and ${formatShape(s)} do not broadcast`);
    out = next;
  }
  return out;
}

/**
 * Axes of `full` that were broadcast from `target`: leading axes `full` has in excess, and axes
 * where `target` has 1 and `full` does not. Summing over them undoes the broadcast.
 */
export function broadcastAxes(full: readonly number[], target: readonly number[]): number[] | null {
  if (target.length > full.length) return null;
  const lead = full.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < full.length; i++) {
    if (i < lead) axes.push(i);
    else {
      const t = target[i - lead]!;
      if (t === full[i]) continue;
      if (t !== 1) return null;
      axes.push(i);
    }
  }
  return axes;
}

/** Resolves a possibly negative axis against `rank`, or returns null when out of range. */
export function normalizeAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}

/** The integer contents of a constant 1-D value (Reshape targets, axes, pads, slice bounds). */
export function constInts(v: Value | undefined, what: string, fail: (m: string) => never): number[] {
  if (!v) return fail(`${what} is missing`);
  if (!v.constData) return fail(`${what} must be a constant known at build time (static shapes), got computed value '${v.name}'`);
  return Array.from({ length: v.size }, (_, i) => elementAt(v.constData!, i));
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
