/**
 * Learning-rate and EMA-momentum schedules (SPEC §2.3, §2.7 MoCo bullet, §2.8) as pure functions of
 * the step, so a resumed run recomputes exactly the values an uninterrupted one used.
 *
 * `step` is the 0-based index of the optimizer step about to run; step `totalSteps` is one past the
 * last, where the schedules reach their end values.
 */

export interface LrSchedule {
  /** The rate at the end of warm-up: base_lr × batch / 256 (`peakLearningRate` in src/config/derived.ts). */
  peakLr: number;
  totalSteps: number;
  warmupSteps: number;
  /**
   * Fraction of the peak rate at step 0 (default 0, as BYOL's warm-up: lr = peak·step/warmup, so the
   * first step has lr 0); mmselfsup calls the same thing `warmup_ratio`.
   */
  warmupStartFactor?: number;
  /** Absolute rate reached at step totalSteps (default 0); not scaled by the batch size. */
  finalLr?: number;
}

/** Throws, naming the field, when a schedule cannot be evaluated. */
export function validateLrSchedule(s: LrSchedule): void {
  const need = (ok: boolean, field: string, value: number, rule: string): void => {
    if (!ok) throw new RangeError(`learning-rate schedule: ${field} must be ${rule}, got ${value}`);
  };
  need(Number.isFinite(s.peakLr) && s.peakLr >= 0, 'peak lr', s.peakLr, 'a finite number ≥ 0');
  need(Number.isInteger(s.totalSteps) && s.totalSteps >= 1, 'total_steps', s.totalSteps, 'an integer ≥ 1');
  need(Number.isInteger(s.warmupSteps) && s.warmupSteps >= 0 && s.warmupSteps <= s.totalSteps, 'warmup_steps', s.warmupSteps, `an integer in [0, total_steps = ${s.totalSteps}]`);
  const start = s.warmupStartFactor ?? 0;
  need(start >= 0 && start <= 1, 'warmup_start_factor', start, 'in [0, 1]');
  const final = s.finalLr ?? 0;
  need(Number.isFinite(final) && final >= 0, 'final_lr', final, 'a finite number ≥ 0');
}

/**
 * Linear warm-up from warmupStartFactor·peak at step 0 to the peak at step warmupSteps, then cosine
 * decay to finalLr at step totalSteps: lr = final + (peak − final)·(1 + cos(π·t))/2 with
 * t = (step − warmup)/(total − warmup). Steps past the end keep finalLr.
 */
export function learningRate(s: LrSchedule, step: number): number {
  validateLrSchedule(s);
  validateStep(step);
  const peak = s.peakLr;
  const final = s.finalLr ?? 0;
  if (step < s.warmupSteps) {
    const start = s.warmupStartFactor ?? 0;
    return peak * (start + ((1 - start) * step) / s.warmupSteps);
  }
  if (step >= s.totalSteps) return final;
  const t = (step - s.warmupSteps) / (s.totalSteps - s.warmupSteps);
  return final + ((peak - final) * (1 + Math.cos(Math.PI * t))) / 2;
}

export type MomentumSchedule =
  /** BYOL / mmselfsup: m = 1 − (1 − base)·(cos(π·step/totalSteps) + 1)/2, from base up to 1. */
  | { kind: 'cosine'; base: number; totalSteps: number }
  /** MoCo's momentum encoder: the same m every step (0.999 in the MoCo variant). */
  | { kind: 'constant'; value: number };

/** The EMA momentum τ for `step` (target ← τ·target + (1 − τ)·online). Steps past the end give 1. */
export function momentumAt(s: MomentumSchedule, step: number): number {
  validateStep(step);
  if (s.kind === 'constant') {
    if (!(s.value >= 0 && s.value <= 1)) throw new RangeError(`momentum schedule: moco.momentum must lie in [0, 1], got ${s.value}`);
    return s.value;
  }
  if (!(s.base >= 0 && s.base <= 1)) throw new RangeError(`momentum schedule: base_momentum must lie in [0, 1], got ${s.base}`);
  if (!(Number.isInteger(s.totalSteps) && s.totalSteps >= 1)) throw new RangeError(`momentum schedule: total_steps must be an integer ≥ 1, got ${s.totalSteps}`);
  const k = Math.min(step, s.totalSteps);
  return 1 - ((1 - s.base) * (Math.cos((Math.PI * k) / s.totalSteps) + 1)) / 2;
}

function validateStep(step: number): void {
  if (!(Number.isInteger(step) && step >= 0)) throw new RangeError(`schedule: step must be an integer ≥ 0, got ${step}`);
}
