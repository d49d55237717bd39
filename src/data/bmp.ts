/**
 * A small BMP decoder, because sharp (libvips) has no BMP loader. It reads the uncompressed variants
 * cameras and image tools write: 24-bit and 32-bit BI_RGB, 16/32-bit BI_BITFIELDS, and 1/4/8-bit
 * palettes, bottom-up or top-down. RLE-compressed and embedded JPEG/PNG BMPs are refused with a
 * message; convert those to PNG.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** HWC, 3 channels, 8 bits each. */
  rgb: Uint8Array;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** Decodes a BMP file; throws an Error saying what is wrong with the file (the caller adds its name). */
export function decodeBmp(buf: Uint8Array): RgbImage {
  if (!isBmp(buf)) throw new Error('not a BMP file (no "BM" signature)');
  if (buf.length < 26) throw new Error(`BMP header truncated (${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  if (headerSize < 40) throw new Error(`BMP header of ${headerSize} bytes (OS/2 BITMAPCOREHEADER) is not supported; convert the file to PNG`);
  if (buf.length < 14 + headerSize) throw new Error('BMP header truncated');
  const width = dv.getInt32(18, true);
  const rawHeight = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height <= 0) throw new Error(`BMP has invalid size ${width}×${rawHeight}`);
  if (width * height > 1 << 28) throw new Error(`BMP of ${width}×${height} pixels is too large`);

  let masks: [number, number, number] | null = null;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // The masks follow a 40-byte header; in V4/V5 headers they are inside it at the same offset.
    if (buf.length < 14 + 40 + 12) throw new Error('BMP bitfield masks truncated');
    masks = [dv.getUint32(54, true), dv.getUint32(58, true), dv.getUint32(62, true)];
    if (bpp !== 16 && bpp !== 32) throw new Error(`BMP with bitfields at ${bpp} bits per pixel is not supported`);
  } else if (compression === BI_RGB) {
    if (bpp === 16) masks = [0x7c00, 0x03e0, 0x001f];
    else if (![1, 4, 8, 24, 32].includes(bpp)) throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  } else {
    throw new Error(`BMP compression type ${compression} (RLE or embedded JPEG/PNG) is not supported; convert the file to PNG`);
  }

  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const used = dv.getUint32(46, true) || 1 << bpp;
    const at = 14 + headerSize;
    if (at + 4 * used > buf.length) throw new Error('BMP palette truncated');
    palette = buf.subarray(at, at + 4 * used);
  }

  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * height > buf.length) {
    throw new Error(`BMP pixel data truncated: needs ${dataOffset + stride * height} bytes, file has ${buf.length}`);
  }
  const rgb = new Uint8Array(width * height * 3);
  const fields = masks?.map(maskShift);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const perByte = 8 / bpp;
        const byte = buf[row + Math.floor(x / perByte)]!;
        const shift = 8 - bpp * ((x % perByte) + 1);
        const idx = (byte >> shift) & ((1 << bpp) - 1);
        const p = 4 * Math.min(idx, palette.length / 4 - 1);
        rgb[o] = palette[p + 2]!;
        rgb[o + 1] = palette[p + 1]!;
        rgb[o + 2] = palette[p]!;
      } else if (fields) {
        const v = bpp === 16 ? dv.getUint16(row + 2 * x, true) : dv.getUint32(row + 4 * x, true);
        for (let c = 0; c < 3; c++) rgb[o + c] = fieldValue(v, fields[c]!);
      } else {
        const p = row + x * (bpp / 8);
        rgb[o] = buf[p + 2]!;
        rgb[o + 1] = buf[p + 1]!;
        rgb[o + 2] = buf[p]!;
      }
    }
  }
  return { width, height, rgb };
}

interface Field {
  mask: number;
  shift: number;
  max: number;
}

function maskShift(mask: number): Field {
  if (mask === 0) return { mask, shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { mask, shift, max: mask >>> shift };
}

/** Scales a bitfield value to 8 bits (a 5-bit 31 becomes 255). */
function fieldValue(v: number, f: Field): number {
  if (f.max === 0) return 0;
  return Math.round((((v & f.mask) >>> f.shift) * 255) / f.max);
}
