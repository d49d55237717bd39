/**
 * Image folders: a recursive scan that fixes the file order once (the main thread scans; workers get
 * the list), and decoding of one file to 8-bit RGB. sharp does the decoding: EXIF orientation is
 * applied, alpha is flattened onto black (so transparent regions are a defined colour rather than
 * whatever RGB the encoder left under them), grey is expanded to three channels, CMYK and 16-bit
 * images are converted to 8-bit sRGB. BMP files go through our own decoder (libvips has none).
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tiff', '.tif'] as const;

/** A class mask written next to its image by writeSyntheticDataset (`00012.png` + `00012_mask.png`). */
export const MASK_SUFFIX = '_mask.png';

export interface FolderListing {
  root: string;
  /** Image paths, sorted by code unit so every machine sees the same order. */
  files: string[];
  /** The mask file for each image, or null. */
  masks: (string | null)[];
}

export interface DecodedImage {
  width: number;
  height: number;
  /** HWC, 3 channels, 8 bits. */
  rgb: Uint8Array;
  /** H×W class ids, when the source has masks. */
  mask?: Uint8Array;
}

/**
 * Lists the images under `root`, recursively (symlinked folders followed once). Dot-files are left
 * out (macOS `._x.jpg` resource forks look like images but are not). Throws when `root` is missing,
 * not a folder, or holds no image file.
 */
export async function scanFolder(root: string): Promise<FolderListing> {
  const info = await stat(root).catch(() => null);
  if (!info) throw new Error(`--data '${root}' does not exist; give a folder of images or 'synthetic[:N]'`);
  if (!info.isDirectory()) throw new Error(`--data '${root}' is a file, not a folder; give the folder that holds the images, or 'synthetic[:N]'`);
  const found: string[] = [];
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const real = await realpath(dir);
    if (seen.has(real)) continue;
    seen.add(real);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).catch(() => null))?.isDirectory() === true);
      if (isDir) stack.push(path);
      else if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(entry.name).toLowerCase())) found.push(path);
    }
  }
  const images = new Map<string, string>();
  for (const f of found) images.set(stemOf(f), f);
  const maskFor = new Map<string, string>();
  const files: string[] = [];
  for (const f of found) {
    const lower = f.toLowerCase();
    const partner = lower.endsWith(MASK_SUFFIX) ? f.slice(0, -MASK_SUFFIX.length) : null;
    if (partner !== null && images.has(partner)) maskFor.set(images.get(partner)!, f);
    else files.push(f);
  }
  if (files.length === 0) {
    throw new Error(`--data '${root}' holds no images: looked recursively for ${IMAGE_EXTENSIONS.join(' ')} (any case)`);
  }
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { root, files, masks: files.map((f) => maskFor.get(f) ?? null) };
}

const stemOf = (path: string): string => join(dirname(path), basename(path, extname(path)));

/** The path as shown in messages: relative to the dataset folder. */
export function displayPath(listing: FolderListing, path: string): string {
  return relative(listing.root, path) || path;
}

/** Decodes one image file to 8-bit RGB; throws with sharp's or the BMP decoder's reason. */
export async function decodeImageFile(path: string): Promise<DecodedImage> {
  const buf = await readFile(path);
  if (isBmp(buf)) return decodeBmp(buf);
  // failOn 'warning' (sharp's default, made explicit): a truncated JPEG is rejected, not half grey.
  const { data, info } = await sharp(buf, { failOn: 'warning' })
    .autoOrient()
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Decodes a class mask (first channel, exact values). */
export async function decodeMaskFile(path: string): Promise<{ width: number; height: number; mask: Uint8Array }> {
  const { data, info } = await sharp(await readFile(path), { failOn: 'warning' })
    .extractChannel(0)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, mask: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Decodes image `i` of a listing with its mask (a mask of another size makes the image bad). */
export async function loadListed(listing: FolderListing, i: number): Promise<DecodedImage> {
  const image = await decodeImageFile(listing.files[i]!);
  const maskPath = listing.masks[i];
  if (!maskPath) return image;
  const m = await decodeMaskFile(maskPath);
  if (m.width !== image.width || m.height !== image.height) {
    throw new Error(`its mask ${displayPath(listing, maskPath)} is ${m.width}×${m.height} but the image is ${image.width}×${image.height}`);
  }
  return { ...image, mask: m.mask };
}
