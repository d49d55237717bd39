/**
 * Procedural multi-instance street scenes (SPEC §4's training-must-learn check): a sky/building/
 * sidewalk/road background in one-point perspective and 8–16 object instances of several classes,
 * drawn far to near (painter's order, so near objects occlude far ones), each with its own colour,
 * texture and size. Size follows depth, so one scene holds the same class at several scales. Every
 * scene is a pure function of (seed, index) and comes with a per-pixel class mask whose ids are the
 * positions in SYNTHETIC_CLASSES, and with its instances' visible areas and boxes.
 *
 * The paper's question (does a dense, multi-instance objective beat a global one?) only has an
 * answer on images where one global vector cannot describe the scene, so every scene draws two
 * cars, a pedestrian, a tree and a sign before its random objects. Occlusion can hide some of them;
 * test/data/synthetic.test.ts states the minimum that stays visible (classes, object instances, object
 * classes, cars, and the spread of their sizes within a scene).
 */
import { Rng, mix32 } from './rng.js';

/** Class ids of the synthetic masks: id = index in this table. */
export const SYNTHETIC_CLASSES = [
  'sky', 'building', 'road', 'sidewalk', 'vegetation', 'pole', 'traffic-sign', 'car', 'pedestrian', 'cyclist',
] as const;
export type SyntheticClass = (typeof SYNTHETIC_CLASSES)[number];
const id = (name: SyntheticClass): number => SYNTHETIC_CLASSES.indexOf(name);

/** One instance as it shows in the picture: what occluders left of it. */
export interface SyntheticInstance {
  /** Class id (SYNTHETIC_CLASSES). */
  cls: number;
  /** Visible pixels. */
  pixels: number;
  /** Bounding box of the visible pixels: x0, y0 inclusive, x1, y1 exclusive. */
  box: [number, number, number, number];
}

export interface SyntheticScene {
  width: number;
  height: number;
  /** HWC, 3 channels. */
  rgb: Uint8Array;
  /** H×W class ids (SYNTHETIC_CLASSES). */
  mask: Uint8Array;
  /**
   * Every instance with a visible pixel, in drawing order: the sky, each building, the ground, the
   * road (with its markings), then each object's parts by class (a sign is a pole and a sign face).
   */
  instances: SyntheticInstance[];
}

type Rgb = [number, number, number];
type Texture = 'solid' | 'stripes' | 'checker' | 'noise';

interface Paint {
  a: Rgb;
  b: Rgb;
  texture: Texture;
  period: number;
  cos: number;
  sin: number;
  salt: number;
  /** Amplitude of the per-pixel grain added to every texture. */
  grain: number;
}

interface Canvas {
  w: number;
  h: number;
  rgb: Uint8ClampedArray;
  mask: Uint8Array;
  /** Per pixel, object · CLASS_SLOTS + class: one id per (object, class) without a lookup table. */
  instance: Uint16Array;
  /** The object being drawn (0 = nothing drawn yet); `nextObject` starts the next one. */
  object: number;
}

/** Class slots per object in instance ids (classes < 16), which leaves room for 4095 objects. */
const CLASS_SLOTS = 16;

function nextObject(c: Canvas): void {
  c.object++;
  if (c.object * CLASS_SLOTS >= 65536) throw new RangeError(`synthetic scene: more than ${65536 / CLASS_SLOTS - 1} objects`);
}

/** 256×256 white-noise values in [0, 1): per-pixel grain and the noise texture look them up by (x, y, salt). */
const NOISE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = (mix32(i * 0x9e3779b9) & 0xffff) / 65536;
  return t;
})();

/** Paints pixels xa ≤ x < xb of row y. Texture values come first, then one colour loop. */
function fillRow(c: Canvas, y: number, xa: number, xb: number, p: Paint, cls: number): void {
  if (xb <= xa) return;
  const t = ROW_T.subarray(0, xb - xa);
  const { period, salt } = p;
  switch (p.texture) {
    case 'solid': t.fill(0); break;
    case 'stripes': {
      const base = y * p.sin + 1e6;
      for (let x = xa; x < xb; x++) t[x - xa] = ((x * p.cos + base) / period) % 1 < 0.5 ? 0 : 1;
      break;
    }
    case 'checker': {
      const row = Math.floor(y / period);
      for (let x = xa; x < xb; x++) t[x - xa] = (Math.floor(x / period) + row) & 1;
      break;
    }
    case 'noise': {
      const row = ((Math.floor(y / period) + (salt >>> 24)) & 255) << 8;
      for (let x = xa; x < xb; x++) t[x - xa] = NOISE[row | ((Math.floor(x / period) + (salt >>> 16)) & 255)]!;
      break;
    }
  }
  const [ar, ag, ab] = p.a;
  const dr = p.b[0] - ar, dg = p.b[1] - ag, db = p.b[2] - ab;
  const grain = p.grain;
  const noiseRow = ((y + (salt >>> 8)) & 255) << 8;
  const rgb = c.rgb;
  for (let x = xa, o = (y * c.w + xa) * 3; x < xb; x++, o += 3) {
    const tx = t[x - xa]!;
    const g = grain * (NOISE[noiseRow | ((x + salt) & 255)]! - 0.5);
    // Uint8ClampedArray stores clamp and round, which is what a colour plus grain needs.
    rgb[o] = ar + dr * tx + g;
    rgb[o + 1] = ag + dg * tx + g;
    rgb[o + 2] = ab + db * tx + g;
  }
  c.mask.fill(cls, y * c.w + xa, y * c.w + xb);
  c.instance.fill(c.object * CLASS_SLOTS + cls, y * c.w + xa, y * c.w + xb);
}

/** Scratch row of texture values (scenes are drawn one at a time per thread). */
let ROW_T = new Float32Array(1024);

/** Fills the pixels whose centres fall in [xa(y), xb(y)) for each row y0 ≤ y < y1 (clipped). */
function fillSpans(c: Canvas, y0: number, y1: number, span: (y: number) => [number, number] | null, p: Paint, cls: number): void {
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(c.h, Math.ceil(y1)); y++) {
    const s = span(y + 0.5);
    if (s) fillRow(c, y, Math.max(0, Math.ceil(s[0] - 0.5)), Math.min(c.w, Math.ceil(s[1] - 0.5)), p, cls);
  }
}

const rect = (c: Canvas, x0: number, y0: number, x1: number, y1: number, p: Paint, cls: number): void =>
  fillSpans(c, y0, y1, () => [x0, x1], p, cls);

function ellipse(c: Canvas, cx: number, cy: number, rx: number, ry: number, p: Paint, cls: number, hole = 0): void {
  fillSpans(c, cy - ry, cy + ry, (y) => {
    const d = 1 - ((y - cy) / ry) ** 2;
    return d > 0 ? [cx - rx * Math.sqrt(d), cx + rx * Math.sqrt(d)] : null;
  }, p, cls);
  // A see-through ring would need to know what lies behind it, so a "hole" is a lighter inner disc
  // of the same class (a tyre's hub, a sign's face), which keeps painter's order exact.
  if (hole > 0) ellipse(c, cx, cy, rx * hole, ry * hole, { ...p, a: shade(p.a, 2.2), b: shade(p.b, 2.2) }, cls);
}

/** A trapezoid with horizontal top (y0, x from a0 to b0) and bottom (y1, a1 to b1). */
function trapezoid(c: Canvas, y0: number, a0: number, b0: number, y1: number, a1: number, b1: number, p: Paint, cls: number): void {
  fillSpans(c, y0, y1, (y) => {
    const t = (y - y0) / (y1 - y0);
    return [a0 + (a1 - a0) * t, b0 + (b1 - b0) * t];
  }, p, cls);
}

const shade = (col: Rgb, f: number): Rgb => [Math.min(255, col[0] * f), Math.min(255, col[1] * f), Math.min(255, col[2] * f)];

function colour(r: Rng, lo = 20, hi = 235): Rgb {
  return [r.uniform(lo, hi), r.uniform(lo, hi), r.uniform(lo, hi)];
}

function paint(r: Rng, a: Rgb, textures: readonly Texture[], scale: number): Paint {
  const angle = r.uniform(0, Math.PI);
  return {
    a,
    b: r.next() < 0.5 ? shade(a, r.uniform(0.4, 0.8)) : colour(r),
    texture: textures[r.int(textures.length)]!,
    period: Math.max(2, scale * r.uniform(0.06, 0.25)),
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    salt: r.nextU32(),
    grain: r.uniform(4, 24),
  };
}

const ANY: readonly Texture[] = ['solid', 'stripes', 'checker', 'noise'];

export interface SyntheticOptions {
  width: number;
  height: number;
}

export const DEFAULT_SYNTHETIC_SIZE: SyntheticOptions = { width: 256, height: 256 };

/** The object kinds, and the odds of each among the objects drawn after the required ones. */
type Kind = 'car' | 'pedestrian' | 'cyclist' | 'tree' | 'sign';
const REQUIRED: readonly Kind[] = ['car', 'car', 'pedestrian', 'tree', 'sign'];
const ODDS: readonly (readonly [Kind, number])[] = [['car', 0.3], ['pedestrian', 0.25], ['cyclist', 0.15], ['tree', 0.15], ['sign', 0.15]];

function randomKind(r: Rng): Kind {
  let u = r.next();
  for (const [kind, p] of ODDS) {
    if (u < p) return kind;
    u -= p;
  }
  return ODDS[ODDS.length - 1]![0];
}

/** Draws scene `index` of the dataset with seed `seed`. */
export function drawScene(seed: number, index: number, size: SyntheticOptions = DEFAULT_SYNTHETIC_SIZE): SyntheticScene {
  const { width: w, height: h } = size;
  const c: Canvas = { w, h, rgb: new Uint8ClampedArray(w * h * 3), mask: new Uint8Array(w * h), instance: new Uint16Array(w * h), object: 0 };
  if (ROW_T.length < w) ROW_T = new Float32Array(w);
  const r = Rng.fromSeed(seed).fork(index);
  const horizon = h * r.uniform(0.3, 0.5);
  const vx = w * r.uniform(0.3, 0.7);

  nextObject(c);
  const skyTop = colour(r, 60, 200);
  const skyLow = shade(skyTop, r.uniform(1.1, 1.5));
  for (let y = 0; y < Math.ceil(horizon); y++) {
    const t = y / horizon;
    const row: Paint = { a: [0, 0, 0], b: [0, 0, 0], texture: 'solid', period: 1, cos: 1, sin: 0, salt: 1, grain: 3 };
    for (let k = 0; k < 3; k++) row.a[k] = skyTop[k]! + (skyLow[k]! - skyTop[k]!) * t;
    rect(c, 0, y, w, y + 1, row, id('sky'));
  }

  for (let x = -r.uniform(0, 0.1) * w; x < w; ) {
    const bw = w * r.uniform(0.08, 0.3);
    if (r.next() < 0.85) {
      const top = horizon - h * r.uniform(0.05, 0.35);
      nextObject(c);
      rect(c, x, top, x + bw, horizon + 1, paint(r, colour(r, 60, 200), ['checker', 'stripes', 'noise'], bw), id('building'));
    }
    x += bw + (r.next() < 0.2 ? w * r.uniform(0.02, 0.1) : 0);
  }

  nextObject(c);
  const ground = paint(r, colour(r, 110, 190), ['checker', 'noise', 'solid'], w * 0.3);
  rect(c, 0, horizon, w, h, ground, id('sidewalk'));
  nextObject(c);
  const roadTop = w * r.uniform(0.01, 0.04);
  const roadBottom = w * r.uniform(0.3, 0.6);
  const roadPaint = paint(r, colour(r, 50, 110), ['noise', 'solid'], w * 0.1);
  roadPaint.b = shade(roadPaint.a, 0.85);
  trapezoid(c, horizon, vx - roadTop, vx + roadTop, h, vx - roadBottom, vx + roadBottom, roadPaint, id('road'));
  const lane: Paint = { ...roadPaint, a: r.next() < 0.5 ? [230, 230, 220] : [225, 190, 40], texture: 'solid', grain: 8 };
  const lw = w / 256; // lane-marking widths are set for 256 px
  for (let t = 0.05; t < 1; t += 0.12) {
    const ya = horizon + (h - horizon) * t * t;
    const yb = horizon + (h - horizon) * (t + 0.06) ** 2;
    trapezoid(c, ya, vx - lw * (1 + 4 * t), vx + lw * (1 + 4 * t), yb, vx - lw * (1 + 5 * t), vx + lw * (1 + 5 * t), lane, id('road'));
  }

  const roadHalf = (y: number): number => roadTop + ((roadBottom - roadTop) * (y - horizon)) / (h - horizon);
  const kinds = [...REQUIRED];
  for (let n = 8 + r.int(9); kinds.length < n; ) kinds.push(randomKind(r));
  const objects = kinds.map((kind) => ({ base: horizon + (h * 1.05 - horizon) * r.uniform(0.05, 1), kind, r: r.fork(r.nextU32()) }));
  objects.sort((a, b) => a.base - b.base);
  for (const o of objects) {
    nextObject(c);
    const depth = (o.base - horizon) / (h - horizon);
    const unit = h * (0.03 + 0.32 * depth);
    if (o.kind === 'car') {
      const x = vx + roadHalf(o.base) * o.r.uniform(-0.9, 0.9);
      drawCar(c, o.r, x, o.base, unit);
    } else {
      const side = o.r.next() < 0.5 ? -1 : 1;
      // Beside the road, but pulled back into the picture when perspective would put it outside.
      const x = Math.min(w * 0.97, Math.max(w * 0.03, vx + side * (roadHalf(o.base) + unit * o.r.uniform(0.1, 1.2))));
      if (o.kind === 'pedestrian') drawPedestrian(c, o.r, x, o.base, unit);
      else if (o.kind === 'cyclist') drawCyclist(c, o.r, vx + roadHalf(o.base) * side * o.r.uniform(0.6, 1.0), o.base, unit);
      else if (o.kind === 'tree') drawTree(c, o.r, x, o.base, unit);
      else drawSign(c, o.r, x, o.base, unit);
    }
  }
  return { width: w, height: h, rgb: new Uint8Array(c.rgb.buffer), mask: c.mask, instances: visibleInstances(c) };
}

/** Area and box of every (object, class) id left in the picture, in id order (drawing order). */
function visibleInstances(c: Canvas): SyntheticInstance[] {
  const n = (c.object + 1) * CLASS_SLOTS;
  const pixels = new Uint32Array(n);
  const box = new Int32Array(4 * n);
  for (let i = 0; i < n; i++) box.set([c.w, c.h, 0, 0], 4 * i);
  for (let y = 0, p = 0; y < c.h; y++) {
    for (let x = 0; x < c.w; x++, p++) {
      const k = c.instance[p]!;
      pixels[k]!++;
      const b = 4 * k;
      if (x < box[b]!) box[b] = x;
      if (y < box[b + 1]!) box[b + 1] = y;
      if (x >= box[b + 2]!) box[b + 2] = x + 1;
      if (y >= box[b + 3]!) box[b + 3] = y + 1;
    }
  }
  const out: SyntheticInstance[] = [];
  for (let k = 0; k < n; k++) {
    if (pixels[k]! > 0) out.push({ cls: k % CLASS_SLOTS, pixels: pixels[k]!, box: [box[4 * k]!, box[4 * k + 1]!, box[4 * k + 2]!, box[4 * k + 3]!] });
  }
  return out;
}

function drawCar(c: Canvas, r: Rng, x: number, base: number, u: number): void {
  const len = u * r.uniform(0.8, 1.3);
  const bodyH = u * r.uniform(0.28, 0.4);
  const body = paint(r, colour(r), r.next() < 0.7 ? ['solid'] : ANY, u);
  const cls = id('car');
  rect(c, x - len / 2, base - bodyH - u * 0.08, x + len / 2, base - u * 0.08, body, cls);
  const cabinW = len * r.uniform(0.5, 0.75);
  const cabinH = u * r.uniform(0.18, 0.3);
  const glass: Paint = { ...body, a: shade(colour(r, 40, 120), 0.6), texture: 'solid' };
  const cx = x + len * r.uniform(-0.1, 0.1);
  trapezoid(c, base - bodyH - u * 0.08 - cabinH, cx - cabinW * 0.4, cx + cabinW * 0.4, base - bodyH - u * 0.08, cx - cabinW / 2, cx + cabinW / 2, glass, cls);
  const tyre: Paint = { ...body, a: [25, 25, 28], b: [40, 40, 40], texture: 'solid' };
  const wr = u * r.uniform(0.09, 0.13);
  ellipse(c, x - len * 0.3, base - wr, wr, wr, tyre, cls, 0.45);
  ellipse(c, x + len * 0.3, base - wr, wr, wr, tyre, cls, 0.45);
}

function drawPerson(c: Canvas, r: Rng, x: number, feet: number, tall: number, cls: number, legs: boolean): void {
  const skin = colour(r, 90, 230);
  const headR = tall * 0.075;
  const shirt = paint(r, colour(r), ANY, tall * 0.5);
  const pants = paint(r, colour(r, 20, 140), ['solid', 'noise'], tall * 0.5);
  const half = tall * r.uniform(0.1, 0.16);
  if (legs) {
    rect(c, x - half, feet - tall * 0.48, x - half * 0.15, feet, pants, cls);
    rect(c, x + half * 0.15, feet - tall * 0.48, x + half, feet, pants, cls);
  }
  rect(c, x - half * 1.1, feet - tall * 0.85, x + half * 1.1, feet - tall * 0.45, shirt, cls);
  ellipse(c, x, feet - tall * 0.85 - headR, headR, headR * 1.15, { ...shirt, a: skin, texture: 'solid' }, cls);
}

function drawPedestrian(c: Canvas, r: Rng, x: number, base: number, u: number): void {
  drawPerson(c, r, x, base, u * r.uniform(0.7, 1.0), id('pedestrian'), true);
}

function drawCyclist(c: Canvas, r: Rng, x: number, base: number, u: number): void {
  const cls = id('cyclist');
  const wr = u * r.uniform(0.13, 0.18);
  const frame = paint(r, colour(r), ['solid'], u);
  const tyre: Paint = { ...frame, a: [20, 20, 24], grain: 6 };
  ellipse(c, x - wr * 1.3, base - wr, wr, wr, tyre, cls, 0.8);
  ellipse(c, x + wr * 1.3, base - wr, wr, wr, tyre, cls, 0.8);
  rect(c, x - wr * 1.3, base - wr * 1.2, x + wr * 1.3, base - wr * 0.9, frame, cls);
  drawPerson(c, r, x, base - wr * 1.1, u * r.uniform(0.55, 0.7), cls, false);
}

function drawTree(c: Canvas, r: Rng, x: number, base: number, u: number): void {
  const cls = id('vegetation');
  const tall = u * r.uniform(1.2, 2.2);
  const trunk = paint(r, [r.uniform(70, 120), r.uniform(45, 80), r.uniform(20, 50)], ['solid', 'stripes'], u);
  rect(c, x - u * 0.05, base - tall * 0.6, x + u * 0.05, base, trunk, cls);
  const leaf = paint(r, [r.uniform(20, 90), r.uniform(90, 190), r.uniform(20, 80)], ['noise'], u * 0.5);
  const blobs = 2 + r.int(3);
  for (let k = 0; k < blobs; k++) {
    const rx = tall * r.uniform(0.18, 0.3);
    ellipse(c, x + rx * r.uniform(-0.7, 0.7), base - tall * r.uniform(0.6, 0.8), rx, rx * r.uniform(0.8, 1.2), leaf, cls);
  }
}

function drawSign(c: Canvas, r: Rng, x: number, base: number, u: number): void {
  const tall = u * r.uniform(1.0, 1.8);
  const pole = paint(r, colour(r, 90, 170), ['solid'], u);
  rect(c, x - u * 0.025, base - tall, x + u * 0.025, base, pole, id('pole'));
  const s = u * r.uniform(0.12, 0.22);
  const face = paint(r, r.next() < 0.5 ? [200, 30, 30] : [30, 60, 190], ['solid', 'stripes'], s * 4);
  const kind = r.int(3);
  const cls = id('traffic-sign');
  if (kind === 0) ellipse(c, x, base - tall, s, s, face, cls, 0.6);
  else if (kind === 1) trapezoid(c, base - tall - s, x, x, base - tall + s, x - s * 1.1, x + s * 1.1, face, cls);
  else rect(c, x - s * 1.3, base - tall - s * 0.7, x + s * 1.3, base - tall + s * 0.7, face, cls);
}
