import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SYNTHETIC_CLASSES, drawScene } from '../../src/data/synthetic.js';

const car = SYNTHETIC_CLASSES.indexOf('car');

test('scenes are a pure function of (seed, index)', () => {
  const a = drawScene(5, 17);
  const b = drawScene(5, 17);
  assert.ok(Buffer.from(a.rgb).equals(Buffer.from(b.rgb)));
  assert.ok(Buffer.from(a.mask).equals(Buffer.from(b.mask)));
  assert.not.ok(Buffer.from(drawScene(6, 17).rgb).equals(Buffer.from(a.rgb)));
  assert.not.ok(Buffer.from(drawScene(5, 18).rgb).equals(Buffer.from(a.rgb)));
  const wide = drawScene(5, 17, { width: 320, height: 160 });
  assert.is(wide.rgb.length, 320 * 160 * 3);
  assert.is(wide.mask.length, 320 * 160);
});

test('masks hold several classes, and every class appears over 40 scenes', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const s = drawScene(0, i);
    const here = new Set(s.mask);
    assert.ok(here.size >= 5, `scene ${i} has only classes ${[...here]}`);
    for (const c of here) {
      assert.ok(c < SYNTHETIC_CLASSES.length);
      seen.add(c);
    }
  }
  assert.is(seen.size, SYNTHETIC_CLASSES.length, `classes seen: ${[...seen].sort()}`);
});

test('objects vary in colour and size from scene to scene', () => {
  const means: number[] = [];
  const areas: number[] = [];
  for (let i = 0; i < 30; i++) {
    const s = drawScene(1, i);
    let n = 0, red = 0;
    for (let p = 0; p < s.mask.length; p++) {
      if (s.mask[p] !== car) continue;
      n++;
      red += s.rgb[3 * p]!;
    }
    areas.push(n / s.mask.length);
    if (n > 200) means.push(red / n);
  }
  const sd = (v: number[]): number => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
  };
  assert.ok(means.length >= 10, `only ${means.length} scenes with cars`);
  assert.ok(sd(means) > 20, `car red channel barely varies: sd ${sd(means)}`);
  assert.ok(Math.max(...areas) > 4 * Math.min(...areas.filter((a) => a > 0)), 'car areas barely vary');
});

test.run();
