import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { learningRate, type LrSchedule, momentumAt } from '../../src/train/schedules.js';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);

test('lr: warm-up from 0 to the peak, cosine to 0', () => {
  const s: LrSchedule = { peakLr: 0.25, totalSteps: 1000, warmupSteps: 100 };
  close(learningRate(s, 0), 0, 'step 0');
  close(learningRate(s, 50), 0.125, 'half-way through warm-up');
  close(learningRate(s, 99), 0.25 * 0.99, 'last warm-up step');
  close(learningRate(s, 100), 0.25, 'warm-up ends at the peak');
  close(learningRate(s, 550), 0.125, 'half-way through the decay: (1 + cos π/2)/2 = 1/2');
  close(learningRate(s, 325), 0.25 * (1 + Math.cos(Math.PI / 4)) / 2, 'a quarter into the decay');
  close(learningRate(s, 1000), 0, 'end');
  close(learningRate(s, 5000), 0, 'past the end');
});

test('lr: warm-up from a start fraction, decay to final_lr, no warm-up', () => {
  const s: LrSchedule = { peakLr: 0.8, totalSteps: 200, warmupSteps: 20, warmupStartFactor: 0.1, finalLr: 0.001 };
  close(learningRate(s, 0), 0.08, 'start = 0.1 × peak 0.8');
  close(learningRate(s, 10), 0.8 * (0.1 + 0.9 * 0.5), 'half-way');
  close(learningRate(s, 20), 0.8, 'peak');
  close(learningRate(s, 110), 0.001 + (0.8 - 0.001) / 2, 'half-way through the decay');
  close(learningRate(s, 200), 0.001, 'final_lr');
  close(learningRate({ ...s, warmupSteps: 0 }, 0), 0.8, 'no warm-up starts at the peak');
});

test('lr: bad fields are named', () => {
  const s: LrSchedule = { peakLr: 0.25, totalSteps: 10, warmupSteps: 20 };
  assert.throws(() => learningRate(s, 0), /warmup_steps must be an integer in \[0, total_steps = 10\], got 20/);
  assert.throws(() => learningRate({ ...s, warmupSteps: 1 }, -1), /step must be an integer ≥ 0, got -1/);
  assert.throws(() => learningRate({ ...s, warmupSteps: 1, peakLr: -1 }, 0), /peak lr must be a finite number ≥ 0, got -1/);
});

test('momentum: BYOL cosine from base to 1, and constant for MoCo', () => {
  const m = { kind: 'cosine', base: 0.996, totalSteps: 1000 } as const;
  close(momentumAt(m, 0), 0.996, 'start');
  close(momentumAt(m, 500), 1 - 0.004 / 2, 'halfway: 1 − (1 − m0)/2');
  close(momentumAt(m, 250), 1 - (0.004 * (Math.cos(Math.PI / 4) + 1)) / 2, 'a quarter');
  close(momentumAt(m, 1000), 1, 'end');
  close(momentumAt(m, 2000), 1, 'past the end');
  close(momentumAt({ kind: 'constant', value: 0.999 }, 12345), 0.999, 'moco');
  assert.throws(() => momentumAt({ kind: 'cosine', base: 1.2, totalSteps: 10 }, 0), /base_momentum must lie in \[0, 1\], got 1.2/);
});

test.run();
