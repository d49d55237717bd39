/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}} padded with spaces so the data starts 8-byte aligned, then the raw little-endian
 * tensor bytes. Used for params.safetensors in bundles, checkpoints and the torchvision export.
 *
 * Tensors are laid out in a deterministic order: by element size, largest first (so every tensor
 * starts aligned for its type, as the reference writer does), then by name in code-point order. The
 * same map therefore always gives the same bytes.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';

export type DType = 'F32' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

/** The typed array each dtype is held in; BOOL is one byte per value, 0 or 1. */
export interface DTypeArrays {
  F32: Float32Array;
  F64: Float64Array;
  I64: BigInt64Array;
  I32: Int32Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type Tensor = { [D in DType]: { dtype: D; shape: number[]; data: DTypeArrays[D] } }[DType];

export type TensorMap = Map<string, Tensor>;

export interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

const ITEM: Record<DType, number> = { F64: 8, I64: 8, F32: 4, I32: 4, U8: 1, BOOL: 1 };
const ARRAY: { [D in DType]: new (n: number) => DTypeArrays[D] } = {
  F32: Float32Array, F64: Float64Array, I64: BigInt64Array, I32: Int32Array, U8: Uint8Array, BOOL: Uint8Array,
};
/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
const MAX_HEADER = 100_000_000;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// Typed arrays use the host byte order and the format is little-endian.
if (endianness() !== 'LE') throw new SafetensorsError('safetensors: this host is big-endian; only little-endian hosts are supported');

/** F32 from a Float32Array, with its shape. */
export function f32(data: Float32Array, shape: number[]): Tensor {
  return { dtype: 'F32', shape, data };
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function validShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/** The deterministic data order: larger elements first, then name. */
function order(tensors: TensorMap): string[] {
  return [...tensors.keys()].sort((a, b) => {
    const byItem = ITEM[tensors.get(b)!.dtype] - ITEM[tensors.get(a)!.dtype];
    return byItem !== 0 ? byItem : a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * The header bytes (8-byte length + padded JSON) and the tensor names in data order, after checking
 * every tensor; `where` names the target in errors.
 */
function encodeHeader(tensors: TensorMap, metadata: Record<string, string>, where: string): { head: Buffer; names: string[] } {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${where}: __metadata__ '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  const names = order(tensors);
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (name === '' || name === '__metadata__') throw new SafetensorsError(`${where}: '${name}' cannot be a tensor name`);
    if (!(ITEM[t.dtype] && t.data instanceof ARRAY[t.dtype])) {
      throw new SafetensorsError(`${where}: tensor '${name}' says dtype ${t.dtype} but holds a ${t.data.constructor.name}`);
    }
    if (!validShape(t.shape) || elements(t.shape) !== t.data.length) {
      throw new SafetensorsError(`${where}: tensor '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    }
    if (t.dtype === 'BOOL' && t.data.some((v) => v > 1)) throw new SafetensorsError(`${where}: BOOL tensor '${name}' holds a value other than 0 or 1`);
    const end = offset + t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(head.length - 8), 0);
  head.write(json, 8, 'utf8');
  return { head, names };
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Serialises `tensors` (and string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}, where = 'safetensors'): Buffer {
  const { head, names } = encodeHeader(tensors, metadata, where);
  return Buffer.concat([head, ...names.map((name) => bytesOf(tensors.get(name)!))]);
}

/**
 * Parses safetensors bytes, checking the header length, every entry's dtype, shape and offsets, and
 * that the tensors tile the data section exactly. `where` (the file name) starts every error.
 * Returned arrays are copies, independent of `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, where = 'safetensors'): SafetensorsFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new SafetensorsError(`${where}: ${buf.length} bytes is too short for a safetensors file (the file is truncated or not safetensors)`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, buf.length - 8))) {
    throw new SafetensorsError(`${where}: header length ${n} exceeds the ${buf.length - 8} bytes after it (truncated file, or not safetensors)`);
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 8, headerEnd));
  } catch (e) {
    throw new SafetensorsError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(`${where}: header must be a JSON object`);
  const dataLength = buf.length - headerEnd;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: TensorMap = new Map();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`${where}: __metadata__ '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (what: string): SafetensorsError => new SafetensorsError(`${where}: tensor '${name}': ${what}`);
    if (typeof e.dtype !== 'string' || !(e.dtype in ITEM)) throw bad(`unsupported dtype ${JSON.stringify(e.dtype)} (expected one of ${Object.keys(ITEM).join(', ')})`);
    if (!validShape(e.shape)) throw bad(`shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((v) => Number.isSafeInteger(v))) throw bad(`data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    const [begin, end] = offs as [number, number];
    if (begin < 0 || end < begin || end > dataLength) throw bad(`data_offsets [${begin}, ${end}] fall outside the ${dataLength}-byte data section (file truncated?)`);
    const dtype = e.dtype as DType;
    const expected = elements(e.shape) * ITEM[dtype];
    if (end - begin !== expected) throw bad(`holds ${end - begin} bytes, but ${dtype}[${e.shape}] needs ${expected}`);
    const data = new ARRAY[dtype](expected / ITEM[dtype]);
    new Uint8Array(data.buffer).set(buf.subarray(headerEnd + begin, headerEnd + end));
    tensors.set(name, { dtype, shape: e.shape, data } as Tensor);
    spans.push({ name, begin, end });
  }
  // The tensors must cover the data section without gaps or overlaps, as the reference reader demands.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) throw new SafetensorsError(`${where}: tensor '${s.name}' starts at byte ${s.begin}, expected ${at} (overlapping or gapped data_offsets)`);
    at = s.end;
  }
  if (at !== dataLength) throw new SafetensorsError(`${where}: tensors cover ${at} of ${dataLength} data bytes (trailing bytes after the last tensor)`);
  return { tensors, metadata };
}

/** Writes a safetensors file and fsyncs it, so a caller's later rename publishes complete bytes. */
export function writeSafetensors(path: string, tensors: TensorMap, metadata: Record<string, string> = {}): void {
  const { head, names } = encodeHeader(tensors, metadata, path);
  const fd = openSync(path, 'w');
  try {
    // Tensor by tensor, so a checkpoint of hundreds of MB is never copied into one buffer first.
    for (const part of [head, ...names.map((name) => bytesOf(tensors.get(name)!))]) {
      for (let at = 0; at < part.byteLength; ) at += writeSync(fd, part, at, part.byteLength - at);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}
