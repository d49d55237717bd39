/**
 * A zip writer for stored (uncompressed) entries, as PyTorch's checkpoint format needs: torch.save
 * writes a zip of stored records whose data starts 64-byte aligned (so storages can be mmapped),
 * padding each local header with an extra field. Timestamps are fixed at 1980-01-01 00:00 so the
 * same entries always give the same bytes. No zip64: an archive of 4 GiB or more, or of 65535
 * entries or more, is refused.
 */
import { crc32 } from 'node:zlib';

export interface ZipEntry {
  /** The path inside the archive, '/'-separated. */
  readonly name: string;
  readonly data: Uint8Array;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL = 0x06054b50;
const LOCAL_SIZE = 30;
const CENTRAL_SIZE = 46;
const END_SIZE = 22;
/** Extra-field id of the alignment padding; the one torch uses ("FB"). Readers skip unknown ids. */
const PADDING_ID = 0x4246;
const VERSION = 20;
/** General-purpose flag bit 11: names are UTF-8. */
const UTF8_NAMES = 0x0800;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const LIMIT = 0xffffffff;

/**
 * The archive as a list of chunks (header, data, header, data, …, central directory), so large
 * entries are written out without being copied into one buffer. Each entry's data starts at a
 * multiple of `align` bytes from the start of the archive.
 */
export function zipStored(entries: readonly ZipEntry[], align = 1): Uint8Array[] {
  if (entries.length >= 0xffff) throw new RangeError(`zip: ${entries.length} entries need zip64, which this writer does not support`);
  const names = new Set<string>();
  const chunks: Uint8Array[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    if (names.has(entry.name)) throw new Error(`zip: entry '${entry.name}' appears twice`);
    names.add(entry.name);
    const name = Buffer.from(entry.name, 'utf8');
    const crc = crc32(entry.data);
    const size = entry.data.length;
    // The extra field always carries its 4-byte header, then pads the data start to `align`.
    const pad = (align - ((offset + LOCAL_SIZE + name.length + 4) % align)) % align;
    const local = Buffer.alloc(LOCAL_SIZE + name.length + 4 + pad);
    local.writeUInt32LE(LOCAL_HEADER, 0);
    writeCommon(local, 4, crc, size, name.length, 4 + pad);
    name.copy(local, LOCAL_SIZE);
    local.writeUInt16LE(PADDING_ID, LOCAL_SIZE + name.length);
    local.writeUInt16LE(pad, LOCAL_SIZE + name.length + 2);

    const header = Buffer.alloc(CENTRAL_SIZE + name.length);
    header.writeUInt32LE(CENTRAL_HEADER, 0);
    header.writeUInt16LE(VERSION, 4); // made by
    writeCommon(header, 6, crc, size, name.length, 0);
    // comment length, disk number, internal and external attributes stay 0
    header.writeUInt32LE(offset, 42);
    name.copy(header, CENTRAL_SIZE);
    central.push(header);

    chunks.push(local, entry.data);
    offset += local.length + size;
    if (offset > LIMIT) throw new RangeError(`zip: the archive reaches ${offset} bytes at entry '${entry.name}'; over 4 GiB needs zip64, which this writer does not support`);
  }
  const centralSize = central.reduce((s, h) => s + h.length, 0);
  if (offset + centralSize > LIMIT) throw new RangeError('zip: the central directory ends beyond 4 GiB; that needs zip64, which this writer does not support');
  const end = Buffer.alloc(END_SIZE);
  end.writeUInt32LE(END_OF_CENTRAL, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...chunks, ...central, end];
}

/** The fields local and central headers share, from "version needed" to "extra field length". */
function writeCommon(b: Buffer, at: number, crc: number, size: number, nameLength: number, extraLength: number): void {
  b.writeUInt16LE(VERSION, at);
  b.writeUInt16LE(UTF8_NAMES, at + 2);
  b.writeUInt16LE(0, at + 4); // method: stored
  b.writeUInt16LE(0, at + 6); // time 00:00:00
  b.writeUInt16LE(DOS_DATE_1980_01_01, at + 8);
  b.writeUInt32LE(crc, at + 10);
  b.writeUInt32LE(size, at + 14); // compressed size
  b.writeUInt32LE(size, at + 18);
  b.writeUInt16LE(nameLength, at + 22);
  b.writeUInt16LE(extraLength, at + 24);
}
