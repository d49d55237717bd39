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

/** The object ("thing") classes: everything but sky, building, road and sidewalk. */
const OBJECT_CLASSES = new Set(['vegetation', 'pole', 'traffic-sign', 'car', 'pedestrian', 'cyclist'].map((c) => SYNTHETIC_CLASSES.indexOf(c as (typeof SYNTHETIC_CLASSES)[number])));
/** An instance counts as visible from this many pixels of a 256×256 scene (a 4×5 patch). */
const VISIBLE = 20;

test('every scene holds several visible instances of several object classes, at several scales', () => {
  // The minimum over these 200 scenes (measured: 7 classes, 5 object instances, 3 object classes,
  // 2 cars, a height ratio of 2); the average scene has 9.5 classes and 13 visible object instances.
  const counts = { instances: [] as number[], cars: [] as number[] };
  for (const seed of [0, 1]) {
    for (let i = 0; i < 100; i++) {
      const s = drawScene(seed, i);
      const where = `scene ${i} of seed ${seed}`;
      assert.is(s.instances.reduce((n, x) => n + x.pixels, 0), s.mask.length, `${where}: instances cover the picture once`);
      const visible = s.instances.filter((x) => OBJECT_CLASSES.has(x.cls) && x.pixels >= VISIBLE);
      const heights = visible.map((x) => x.box[3] - x.box[1]);
      const cars = visible.filter((x) => x.cls === car).length;
      assert.ok(new Set(s.mask).size >= 7, `${where}: classes ${[...new Set(s.mask)]}`);
      assert.ok(visible.length >= 5, `${where}: ${visible.length} visible object instances`);
      assert.ok(new Set(visible.map((x) => x.cls)).size >= 3, `${where}: object classes ${[...new Set(visible.map((x) => x.cls))]}`);
      assert.ok(cars >= 2, `${where}: ${cars} visible cars`);
      assert.ok(Math.max(...heights) >= 2 * Math.min(...heights), `${where}: object heights ${heights}`);
      counts.instances.push(visible.length);
      counts.cars.push(cars);
    }
  }
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(mean(counts.instances) >= 10, `${mean(counts.instances)} visible object instances per scene on average`);
});

test('instances agree with the mask: a class\'s instance areas add up to its pixels', () => {
  const s = drawScene(3, 9);
  for (let k = 0; k < SYNTHETIC_CLASSES.length; k++) {
    const inMask = s.mask.reduce((n, v) => n + (v === k ? 1 : 0), 0);
    assert.is(s.instances.filter((x) => x.cls === k).reduce((n, x) => n + x.pixels, 0), inMask, SYNTHETIC_CLASSES[k]);
  }
  for (const x of s.instances) {
    const [x0, y0, x1, y1] = x.box;
    let inside = 0;
    for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) inside += s.mask[y * s.width + xx] === x.cls ? 1 : 0;
    assert.ok(inside >= x.pixels, `${SYNTHETIC_CLASSES[x.cls]} instance's pixels lie inside its box`);
  }
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
