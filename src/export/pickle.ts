/**
 * A small Python pickle writer (protocol 2), enough for the two files the export writes without
 * Python: PyTorch's `data.pkl` (an OrderedDict of tensors rebuilt from persistent-id storages) and
 * detectron2's `.pkl` (a dict of numpy arrays).
 *
 * Protocol 2 is what torch.save writes and what every unpickler since Python 2.3 reads. It has no
 * opcode for bytes, so bytes are written as CPython itself writes them at protocol 2:
 * `_codecs.encode(<latin-1 str>, 'latin1')` — readable under any `encoding=` a loader passes
 * (detectron2 passes 'latin1'; plain `pickle.load` uses 'ASCII'). No memo is written: nothing here
 * is shared, and unpicklers need none.
 *
 * Values: `null` → None, booleans, integers (JS numbers within int32; nothing here needs more),
 * strings, Uint8Array → bytes, and the classes below for tuples, dicts and the object-building
 * opcodes (GLOBAL, REDUCE, BUILD, BINPERSID).
 */

export type PickleValue = null | boolean | number | string | Uint8Array | Tuple | Dict | Global | Reduce | Build | PersistentId;

/** A Python tuple. */
export class Tuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A dict with str keys, in insertion order; `into` fills another mapping instead (e.g. a Reduce making an OrderedDict). */
export class Dict {
  constructor(
    readonly entries: ReadonlyMap<string, PickleValue>,
    readonly into: Reduce | null = null,
  ) {}
}

/** A module-level name, e.g. `new Global('collections', 'OrderedDict')`. */
export class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

/** `callable(*args)`. */
export class Reduce {
  constructor(
    readonly callable: PickleValue,
    readonly args: Tuple,
  ) {}
}

/** `object.__setstate__(state)` (or a dict update of its attributes). */
export class Build {
  constructor(
    readonly object: PickleValue,
    readonly state: PickleValue,
  ) {}
}

/** An object the loader resolves itself (`persistent_load(id)`), e.g. a torch storage. */
export class PersistentId {
  constructor(readonly id: PickleValue) {}
}

const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, BINUNICODE: 0x58,
  EMPTY_TUPLE: 0x29, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, TUPLE: 0x74,
  EMPTY_DICT: 0x7d, SETITEMS: 0x75, GLOBAL: 0x63, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51,
} as const;

const BYTES_CODEC = new Global('_codecs', 'encode');

/** The pickle (protocol 2) of `value`. */
export function pickle(value: PickleValue): Buffer {
  const w = new Writer();
  w.op(OP.PROTO, 2);
  w.value(value);
  w.op(OP.STOP);
  return w.finish();
}

class Writer {
  private readonly parts: Buffer[] = [];

  op(...bytes: number[]): void {
    this.parts.push(Buffer.from(bytes));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }

  value(v: PickleValue): void {
    if (v === null) return this.op(OP.NONE);
    if (typeof v === 'boolean') return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
    if (typeof v === 'number') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof Uint8Array) return this.bytes(v);
    if (v instanceof Tuple) return this.tuple(v);
    if (v instanceof Dict) return this.dict(v);
    if (v instanceof Global) {
      this.op(OP.GLOBAL);
      this.parts.push(Buffer.from(`${v.module}\n${v.name}\n`, 'utf8'));
      return;
    }
    if (v instanceof Reduce) {
      this.value(v.callable);
      this.tuple(v.args);
      return this.op(OP.REDUCE);
    }
    if (v instanceof Build) {
      this.value(v.object);
      this.value(v.state);
      return this.op(OP.BUILD);
    }
    this.value(v.id);
    this.op(OP.BINPERSID);
  }

  private int(n: number): void {
    if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`pickle: ${n} is not a 32-bit integer (floats and larger integers are not supported)`);
    if (n >= 0 && n < 0x100) return this.op(OP.BININT1, n);
    if (n >= 0 && n < 0x10000) return this.op(OP.BININT2, n & 0xff, n >> 8);
    const b = Buffer.alloc(5);
    b[0] = OP.BININT;
    b.writeInt32LE(n, 1);
    this.parts.push(b);
  }

  private str(s: string): void {
    this.utf8(Buffer.from(s, 'utf8'));
  }

  /** BINUNICODE: a 4-byte little-endian length, then UTF-8. */
  private utf8(encoded: Buffer): void {
    const head = Buffer.alloc(5);
    head[0] = OP.BINUNICODE;
    head.writeUInt32LE(encoded.length, 1);
    this.parts.push(head, encoded);
  }

  /** CPython's protocol-2 form (see the file comment). */
  private bytes(data: Uint8Array): void {
    // The bytes as a latin-1 string, UTF-8 encoded: 0x00–0x7f stay, 0x80–0xff take two bytes.
    const encoded = Buffer.allocUnsafe(2 * data.length);
    let at = 0;
    for (let i = 0; i < data.length; i++) {
      const b = data[i]!;
      if (b < 0x80) {
        encoded[at++] = b;
      } else {
        encoded[at++] = 0xc0 | (b >> 6);
        encoded[at++] = 0x80 | (b & 0x3f);
      }
    }
    this.value(BYTES_CODEC);
    this.utf8(encoded.subarray(0, at));
    this.str('latin1');
    this.op(OP.TUPLE2, OP.REDUCE);
  }

  private tuple(t: Tuple): void {
    const n = t.items.length;
    if (n === 0) return this.op(OP.EMPTY_TUPLE);
    if (n > 3) this.op(OP.MARK);
    for (const item of t.items) this.value(item);
    this.op(n === 1 ? OP.TUPLE1 : n === 2 ? OP.TUPLE2 : n === 3 ? OP.TUPLE3 : OP.TUPLE);
  }

  private dict(d: Dict): void {
    if (d.into) this.value(d.into);
    else this.op(OP.EMPTY_DICT);
    if (d.entries.size === 0) return;
    this.op(OP.MARK);
    for (const [k, v] of d.entries) {
      this.str(k);
      this.value(v);
    }
    this.op(OP.SETITEMS);
  }
}
