import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBmp } from '../../src/data/bmp.js';
import { type BadFile, SkipLog, loadGood, openSource, parseDataArg, writeSyntheticDataset } from '../../src/data/sources.js';
import { drawScene } from '../../src/data/synthetic.js';

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'multisiam-sources-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A BMP writer for the fixtures: 24-bit bottom-up, 32-bit top-down or 8-bit palette. */
function bmp(width: number, height: number, px: (x: number, y: number) => [number, number, number], kind: 24 | 32 | 8): Buffer {
  const bpp = kind;
  const stride = Math.ceil((width * bpp) / 32) * 4;
  const palette = kind === 8 ? 256 * 4 : 0;
  const offset = 54 + palette;
  const buf = Buffer.alloc(offset + stride * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(kind === 32 ? -height : height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bpp, 28);
  // 8-bit: a grey palette, index = grey level.
  for (let i = 0; i < palette / 4; i++) buf.fill(i, 54 + 4 * i, 54 + 4 * i + 3);
  for (let y = 0; y < height; y++) {
    const row = offset + (kind === 32 ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = px(x, y);
      if (kind === 8) buf[row + x] = r;
      else buf.set([b, g, r], row + x * (bpp / 8));
    }
  }
  return buf;
}

test('--data parsing: synthetic forms and clear errors', async () => {
  assert.equal(await parseDataArg('synthetic'), { kind: 'synthetic', count: 2000, seed: 0, width: 256, height: 256 });
  const s = await parseDataArg('synthetic:500', { syntheticSeed: 9 });
  assert.ok(s.kind === 'synthetic' && s.count === 500 && s.seed === 9);
  for (const bad of ['synthetic:0', 'synthetic:abc', 'synthetic:1.5', 'synthetic:']) {
    await parseDataArg(bad).then(() => assert.unreachable(bad), (e: Error) => assert.match(e.message, /positive integer/));
  }
  const missing = join(dir, 'nope');
  await parseDataArg(missing).then(() => assert.unreachable(), (e: Error) => {
    assert.match(e.message, missing);
    assert.match(e.message, /does not exist/);
  });
});

test('an empty folder, or one without images, stops with the folder and the extensions', async () => {
  const empty = join(dir, 'empty');
  await mkdir(join(empty, 'sub'), { recursive: true });
  await writeFile(join(empty, 'sub', 'notes.txt'), 'not an image');
  await parseDataArg(empty).then(() => assert.unreachable(), (e: Error) => {
    assert.match(e.message, empty);
    assert.match(e.message, /\.jpg .*\.png .*\.bmp .*\.tif/);
  });
  await parseDataArg(join(empty, 'sub', 'notes.txt')).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /is a file, not a folder/));
});

test('odd images decode to 8-bit RGB: grey, RGBA, 16-bit, CMYK, EXIF-rotated, tiny, BMP', async () => {
  const d = join(dir, 'odd');
  await mkdir(join(d, 'nested'), { recursive: true });
  await sharp(Buffer.alloc(5 * 3, 100), { raw: { width: 5, height: 3, channels: 1 } }).png().toFile(join(d, 'grey.png'));
  await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 0.5 } } }).png().toFile(join(d, 'rgba.PNG'));
  await sharp(Buffer.alloc(4 * 4 * 3 * 2, 0x80), { raw: { width: 4, height: 4, channels: 3 } }).toColourspace('rgb16').png().toFile(join(d, 'deep16.png'));
  await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 100, b: 50 } } }).toColourspace('cmyk').jpeg().toFile(join(d, 'nested', 'cmyk.jpg'));
  await sharp({ create: { width: 6, height: 2, channels: 3, background: '#ff0000' } }).jpeg().withMetadata({ orientation: 6 }).toFile(join(d, 'rotated.jpeg'));
  await sharp(Buffer.from([10, 20, 30]), { raw: { width: 1, height: 1, channels: 3 } }).webp({ lossless: true }).toFile(join(d, 'one.webp'));
  await sharp(Buffer.alloc(2 * 3 * 3, 77), { raw: { width: 2, height: 3, channels: 3 } }).tiff().toFile(join(d, 'two-by-three.tif'));
  await writeFile(join(d, 'b24.bmp'), bmp(3, 2, (x, y) => [x * 100, y * 100, 7], 24));
  await writeFile(join(d, 'b32.BMP'), bmp(2, 2, (x, y) => [x * 200, 50, y * 200], 32));
  await writeFile(join(d, 'b8.bmp'), bmp(5, 1, (x) => [x * 50, 0, 0], 8));
  const spec = await parseDataArg(d);
  assert.is(spec.kind, 'folder');
  const src = openSource(spec);
  assert.is(src.count, 10);
  const byName = new Map<string, { width: number; height: number; rgb: Uint8Array }>();
  for (let i = 0; i < src.count; i++) {
    const img = await src.load(i);
    assert.is(img.rgb.length, img.width * img.height * 3, src.itemName(i));
    byName.set(src.itemName(i), img);
  }
  const px = (name: string, i: number): number[] => [...byName.get(name)!.rgb.subarray(3 * i, 3 * i + 3)];
  assert.equal(px('grey.png', 4), [100, 100, 100]);
  assert.equal(px('rgba.PNG', 0), [100, 50, 25], 'alpha 0.5 flattened on black');
  assert.equal(px('deep16.png', 0), [128, 128, 128]);
  const cmyk = px(join('nested', 'cmyk.jpg'), 5);
  // sRGB → CMYK → sRGB goes through ICC profiles and is not exact; the hue order must survive.
  assert.ok(Math.abs(cmyk[0]! - 200) < 12 && Math.abs(cmyk[1]! - 100) < 12 && cmyk[2]! < 60, `CMYK → ${cmyk}`);
  const rot = byName.get('rotated.jpeg')!;
  assert.equal([rot.width, rot.height], [2, 6], 'EXIF orientation 6 applied');
  assert.equal(px('one.webp', 0), [10, 20, 30]);
  assert.equal([byName.get('two-by-three.tif')!.width, byName.get('two-by-three.tif')!.height], [2, 3]);
  assert.equal(px('b24.bmp', 0), [0, 0, 7]);
  assert.equal(px('b24.bmp', 5), [200, 100, 7], 'bottom-up rows read in order');
  assert.equal(px('b32.BMP', 3), [200, 50, 200], 'top-down 32-bit');
  assert.equal(px('b8.bmp', 4), [200, 200, 200], 'palette lookup');
});

test('BMP variants we do not read are refused with a reason', () => {
  const b = bmp(2, 2, () => [1, 2, 3], 24);
  b.writeUInt32LE(1, 30); // BI_RLE8
  assert.throws(() => decodeBmp(b), /compression type 1.*convert the file to PNG/);
  assert.throws(() => decodeBmp(bmp(4, 4, () => [1, 2, 3], 24).subarray(0, 60)), /truncated/);
});

test('corrupt and truncated files: the good ones are used, each bad one named once and counted', async () => {
  const d = join(dir, 'mixed');
  await mkdir(d, { recursive: true });
  const good = (v: number): Promise<unknown> =>
    sharp(Buffer.alloc(8 * 8 * 3, v), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(d, `good${v}.png`));
  await good(10);
  await good(20);
  await writeFile(join(d, 'broken.png'), Buffer.from('this is not a PNG at all'));
  const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
  const jpeg = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
  await writeFile(join(d, 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  const spec = await parseDataArg(d);
  const src = openSource(spec);
  // Sorted order: broken.png, cut.jpg, good10.png, good20.png.
  assert.equal([0, 1, 2, 3].map((i) => src.itemName(i)), ['broken.png', 'cut.jpg', 'good10.png', 'good20.png']);
  const warnings: string[] = [];
  const log = new SkipLog({ warn: (m) => warnings.push(m) });
  const note = (b: BadFile): void => log.note(b);
  const r0 = await loadGood(src, 0, log.known, note);
  assert.is(r0.index, 2, 'broken.png and cut.jpg are replaced by the next good image');
  assert.is(r0.image.rgb[0], 10);
  const r1 = await loadGood(src, 1, log.known, note);
  assert.is(r1.index, 2);
  // A second reader that does not know yet (another worker) reports again; the log still names each once.
  await loadGood(src, 0, new Set(), note);
  assert.is(log.skipped, 2);
  assert.is(warnings.length, 2);
  assert.match(warnings[0]!, /broken\.png/);
  assert.match(warnings[1]!, /cut\.jpg: .*(premature|truncat)/i);
  assert.is((await loadGood(src, 3, log.known, note)).index, 3);
});

test('a folder where nothing decodes says so with the first error', async () => {
  const d = join(dir, 'allbad');
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'a.jpg'), 'nope');
  const src = openSource(await parseDataArg(d));
  await loadGood(src, 0, new Set(), () => undefined).then(() => assert.unreachable(), (e: Error) => {
    assert.match(e.message, /no item of .*allbad \(1\) could be decoded/);
    assert.match(e.message, /a\.jpg/);
  });
});

test('writeSyntheticDataset writes images and masks that the folder source reads back exactly', async () => {
  const d = join(dir, 'synth');
  const paths = await writeSyntheticDataset(d, 3, 4, { width: 64, height: 48 });
  assert.equal(paths.map((p) => p.slice(d.length + 1)), ['00000.png', '00001.png', '00002.png']);
  const src = openSource(await parseDataArg(d));
  assert.is(src.count, 3, 'mask files are not training images');
  const img = await src.load(1);
  const ref = drawScene(4, 1, { width: 64, height: 48 });
  assert.ok(Buffer.from(img.rgb).equals(Buffer.from(ref.rgb)));
  assert.ok(img.mask && Buffer.from(img.mask).equals(Buffer.from(ref.mask)));
});

test.run();
