/**
 * The configuration schema and its resolution: defaults ← the method's defaults ← preset ← config
 * file (YAML or JSON) ← each `--set key=value` in order, later layers winning. Every value is checked
 * against the field table as it is read, every problem of every layer is reported together, then the
 * cross-field rules run on the result. Also: the config hash (checkpoints record which configuration
 * produced them) and the field table as text (`multisiam config`, `--help`).
 *
 * A `ConfigSchema` is built from field rows and rules; the method registry (src/methods/index.ts)
 * builds the one the tool uses from the shared rows and every method's own.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import yaml from 'js-yaml';
import { ConfigError } from './errors.js';
import { allowedText, checkText, checkValue, closest, formatValue, type Refusal, type Value } from './fields.js';
import { type ConfigPatch, PRESET_NAMES, PRESETS, type PresetName } from './presets.js';
import { type Rule, checkRules } from './rules.js';
import { type ConfigPath, type Field, type MultiSiamConfig, applies, valueAt } from './schema.js';

export interface ResolveOptions {
  /** A name from PRESETS; a config file may name one instead with a top-level `preset:` key. */
  readonly preset?: string;
  /** A `.yaml`, `.yml` or `.json` file of config keys, nested as in MultiSiamConfig. */
  readonly configFile?: string;
  /** A complete configuration to start from instead of the defaults (a bundle's), with a label for messages. */
  readonly base?: { readonly config: MultiSiamConfig; readonly label: string };
  /** `key=value` overrides such as `kmeans.k=8` or `data.ratio=[0.75,1.333]`, applied in order. */
  readonly sets?: readonly string[];
  /**
   * Receives a line for each field a file or `--set` gave that this configuration never reads (e.g.
   * `moco.queue_size` with framework 'byol'). Defaults to process.emitWarning.
   */
  readonly onWarning?: (message: string) => void;
}

/** The fields one source gives, by path; `label` says where they came from in messages. */
interface Layer {
  readonly label: string;
  readonly values: Map<string, Value>;
  /** A value the user wrote (file, --set), as opposed to one a preset chose; only these warn when ignored. */
  readonly userWritten: boolean;
}

type Tree = { [key: string]: Value | Tree };

const isMapping = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export interface SchemaParts {
  /** Every field row; rows of the same top-level group are shown together, in the order given. */
  readonly fields: readonly Field[];
  readonly rules: readonly Rule[];
  /** Defaults a method lays over the field defaults when it is chosen (below presets, files and --set). */
  readonly defaultsFor?: (method: string) => ConfigPatch | undefined;
}

/** A field table with its rules: resolves, hashes and describes configurations. */
export class ConfigSchema {
  /** Every field, grouped by top-level key in first-appearance order. */
  readonly fields: readonly Field[];
  readonly rules: readonly Rule[];
  readonly byPath: ReadonlyMap<string, Field>;
  /** Every group path (`data`, `data.view1`, …), i.e. every proper prefix of a field path. */
  readonly groups: ReadonlySet<string>;
  private readonly defaultsFor: (method: string) => ConfigPatch | undefined;

  constructor(parts: SchemaParts) {
    const order = [...new Set(parts.fields.map((f) => topGroup(f.path)))];
    this.fields = [...parts.fields].sort((a, b) => order.indexOf(topGroup(a.path)) - order.indexOf(topGroup(b.path)));
    this.rules = parts.rules;
    this.byPath = new Map(this.fields.map((f) => [f.path, f]));
    if (this.byPath.size !== this.fields.length) {
      const seen = new Set<string>();
      const twice = this.fields.map((f) => f.path).filter((p) => seen.has(p) || !seen.add(p));
      throw new Error(`config schema: field${twice.length > 1 ? 's' : ''} ${twice.map((p) => `'${p}'`).join(', ')} declared twice`);
    }
    this.groups = new Set(this.fields.flatMap((f) => f.path.split('.').slice(0, -1).map((_, i, ps) => ps.slice(0, i + 1).join('.'))));
    this.defaultsFor = parts.defaultsFor ?? (() => undefined);
  }

  /** The validated configuration; throws ConfigError listing every problem found. */
  resolve(options: ResolveOptions = {}): MultiSiamConfig {
    const file = options.configFile === undefined ? null : readConfigFile(options.configFile);
    const fileLabel = `in file '${options.configFile}'`;
    let presetName: PresetName | null = null;
    if (options.preset !== undefined) presetName = checkPreset(options.preset, 'from --preset');
    if (file && 'preset' in file) {
      const fromFile = checkPreset(file.preset, fileLabel);
      if (presetName !== null && presetName !== fromFile) {
        throw new ConfigError(`preset given twice: '${presetName}' from --preset and '${fromFile}' ${fileLabel}; allowed: one of them, or both the same`);
      }
      presetName = fromFile;
    }

    const problems: string[] = [];
    const layers: Layer[] = [];
    if (options.base) layers.push(this.objectLayer(options.base.config as unknown as Tree, options.base.label, false, problems));
    if (presetName) layers.push(this.objectLayer(PRESETS[presetName].values, `in preset '${presetName}'`, false, problems));
    if (file) {
      const { preset: _preset, ...body } = file;
      layers.push(this.objectLayer(body, fileLabel, true, problems));
    }
    for (const text of options.sets ?? []) layers.push(this.setLayer(text, problems));
    if (!options.base) {
      // The chosen method's own defaults sit right above the field defaults, so a preset, a file
      // or --set still overrides them.
      const method = layers.reduce((m, l) => l.values.get('method') ?? m, this.byPath.get('method')?.default);
      const patch = typeof method === 'string' ? this.defaultsFor(method) : undefined;
      if (patch) layers.unshift(this.objectLayer(patch as Tree, `in method '${method}' defaults`, false, problems));
    }

    const values = new Map<string, Value>(this.fields.map((f) => [f.path, f.default]));
    for (const layer of layers) apply(values, layer, this.byPath, problems);
    if (problems.length > 0) throw new ConfigError(problems);

    const cfg = build(values);
    const broken = checkRules(this.rules, cfg);
    if (broken.length > 0) throw new ConfigError(broken);

    const warn = options.onWarning ?? ((m: string) => process.emitWarning(m, 'ConfigWarning'));
    const written = new Set(layers.filter((l) => l.userWritten).flatMap((l) => [...l.values.keys()]));
    for (const field of this.fields) {
      if (written.has(field.path) && !applies(field, cfg)) {
        warn(`config field '${field.path}' is ignored: it is read only when ${conditionText(field)}`);
      }
    }
    return cfg;
  }

  /**
   * A stable 16-hex-digit hash of what the configuration computes: the fields it reads, minus the
   * operational ones (workers, logging, checkpoint cadence, where it runs), so a run resumed with more
   * workers, or a field this method ignores changed, keeps its hash. Sorted by path, so table order
   * does not matter.
   */
  hash(cfg: MultiSiamConfig): string {
    const entries = this.fields
      .filter((f) => !f.operational && applies(f, cfg))
      .map((f) => [f.path, valueAt(cfg, f.path)] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);
  }

  /** The fields that differ between two configurations, as `path: a → b` lines (operational ones too when asked). */
  differences(a: MultiSiamConfig, b: MultiSiamConfig, options: { readonly operational?: boolean } = {}): { path: ConfigPath; from: Value; to: Value }[] {
    return this.fields
      .filter((f) => (options.operational || !f.operational) && (applies(f, a) || applies(f, b)))
      .map((f) => ({ path: f.path, from: valueAt(a, f.path), to: valueAt(b, f.path) }))
      .filter((d) => JSON.stringify(d.from) !== JSON.stringify(d.to));
  }

  /** One field as text: path, default, allowed values, doc and when it is read. */
  describeField(field: Field, cfg?: MultiSiamConfig): string[] {
    const value = cfg ? valueAt(cfg, field.path) : field.default;
    const lines = [`${field.path} = ${formatValue(value)}    (${allowedText(field.type)}${cfg && JSON.stringify(value) !== JSON.stringify(field.default) ? `; default ${formatValue(field.default)}` : ''})`, `    ${field.doc}`];
    if (field.when) lines.push(`    read only when ${conditionText(field)}`);
    if (field.operational) lines.push('    operational: does not change what is computed (a resumed run may change it)');
    return lines;
  }

  /** The field table (with `cfg`'s values when given), cross-field rules and presets as text. */
  describe(cfg?: MultiSiamConfig): string {
    const lines = [
      'Configuration: defaults ← the method\'s defaults ← preset ← config file (YAML/JSON) ← --set key=value (later wins).',
      '',
    ];
    let group = '';
    for (const f of this.fields) {
      const g = f.path.includes('.') ? topGroup(f.path) : '';
      if (g !== group) lines.push('', `[${g}]`);
      group = g;
      lines.push(...this.describeField(f, cfg));
    }
    lines.push('', 'Rules across fields:', ...this.rules.map((r) => `  - ${r.doc}`));
    lines.push('', 'Presets (--preset NAME, or preset: NAME in a config file):');
    const width = Math.max(...PRESET_NAMES.map((p) => p.length));
    lines.push(...PRESET_NAMES.map((p) => `  ${p.padEnd(width)}  ${PRESETS[p].doc}`));
    return lines.join('\n');
  }

  /** The keys directly under a group ('' = top level), for "allowed" lists. */
  private childKeys(group: string): string[] {
    const prefix = group === '' ? '' : `${group}.`;
    const keys = this.fields.filter((f) => f.path.startsWith(prefix)).map((f) => f.path.slice(prefix.length).split('.')[0]!);
    return [...new Set(keys)];
  }

  private unknownKey(path: string, label: string): string {
    const near = closest(path, [...this.byPath.keys(), ...this.groups]);
    const parts = path.split('.');
    let group = '';
    for (let i = parts.length - 1; i > 0 && group === ''; i--) {
      const prefix = parts.slice(0, i).join('.');
      if (this.groups.has(prefix)) group = prefix;
    }
    const hint = near ? ` did you mean '${near}'?` : '';
    return `config key '${path}' is unknown (${label});${hint} allowed ${group ? `in '${group}'` : 'at the top level'}: ${this.childKeys(group).join(', ')}`;
  }

  /** Reads a nested object (a preset, method defaults or a parsed file) into a layer, collecting problems. */
  private objectLayer(body: Record<string, unknown>, label: string, userWritten: boolean, problems: string[]): Layer {
    const values = new Map<string, Value>();
    const walk = (node: Record<string, unknown>, prefix: string): void => {
      for (const [key, raw] of Object.entries(node)) {
        const path = prefix + key;
        const field = this.byPath.get(path);
        if (field) {
          const r = checkValue(field.type, raw);
          if ('problem' in r) problems.push(fieldProblem(field, r, label));
          else values.set(path, r.value);
        } else if (!this.groups.has(path)) {
          problems.push(this.unknownKey(path, label));
        } else if (isMapping(raw)) {
          walk(raw, `${path}.`);
        } else if (raw !== null) {
          // null is a group whose keys are all commented out: nothing to apply.
          problems.push(`config key '${path}' is a group, not a value, but got ${formatValue(raw)} (${label}); allowed: a mapping with keys ${this.childKeys(path).join(', ')}`);
        }
      }
    };
    walk(body, '');
    return { label, values, userWritten };
  }

  private setLayer(text: string, problems: string[]): Layer {
    const label = `from --set ${text}`;
    const values = new Map<string, Value>();
    const eq = text.indexOf('=');
    const key = text.slice(0, eq).trim();
    const field = this.byPath.get(key);
    if (eq < 0) {
      problems.push(`--set '${text}' is not of the form key=value; allowed: e.g. --set kmeans.k=8`);
    } else if (key === 'preset') {
      problems.push(`config key 'preset' cannot be given with --set (${label}); allowed: --preset NAME or a file's preset: key`);
    } else if (field) {
      const r = checkText(field.type, text.slice(eq + 1));
      if ('problem' in r) problems.push(fieldProblem(field, r, label));
      else values.set(key, r.value);
    } else if (this.groups.has(key)) {
      problems.push(`config key '${key}' is a group, not a field (${label}); allowed: one of ${this.childKeys(key).map((k) => `${key}.${k}`).join(', ')}`);
    } else {
      problems.push(this.unknownKey(key, label));
    }
    return { label, values, userWritten: true };
  }
}

function topGroup(path: string): string {
  return path.split('.')[0]!;
}

function fieldProblem(field: Field, refusal: Refusal, label: string): string {
  return `config field '${field.path}': ${formatValue(refusal.raw)} ${refusal.problem}; allowed: ${allowedText(field.type)} (${label})`;
}

/**
 * Parses a config file; a file that cannot be read or parsed stops resolution at once. Exported so
 * the CLI can tell which keys a file sets (whether it names a preset, which fields it gives).
 */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config file '${path}' cannot be read: ${(e as Error).message}`);
  }
  const ext = extname(path).toLowerCase();
  let body: unknown;
  if (ext === '.yaml' || ext === '.yml') {
    try {
      // CORE_SCHEMA: YAML 1.2 scalars only (no dates or binary, and `yes` stays a string).
      body = yaml.load(text, { filename: path, schema: yaml.CORE_SCHEMA });
    } catch (e) {
      if (!(e instanceof yaml.YAMLException)) throw e;
      throw new ConfigError(`config file '${path}': invalid YAML at line ${e.mark.line + 1}, column ${e.mark.column + 1}: ${e.reason}`);
    }
  } else if (ext === '.json') {
    try {
      body = JSON.parse(text);
    } catch (e) {
      const message = (e as Error).message;
      // Node 20's parser gives a character position for most errors; turn it into a line number.
      const at = /at position (\d+)/.exec(message);
      const line = at ? ` at line ${text.slice(0, Number(at[1])).split('\n').length}` : '';
      throw new ConfigError(`config file '${path}': invalid JSON${line}: ${message}`);
    }
  } else {
    throw new ConfigError(`config file '${path}': unknown extension '${ext}'; allowed: .yaml, .yml, .json`);
  }
  if (body === undefined || body === null) return {};
  if (!isMapping(body)) {
    throw new ConfigError(`config file '${path}': the top level is ${formatValue(body)}; allowed: a mapping of config keys, e.g. kmeans: {k: 8}`);
  }
  return body;
}

function checkPreset(name: unknown, label: string): PresetName {
  const allowed = `allowed: ${PRESET_NAMES.map((p) => `'${p}'`).join(', ')}`;
  if (typeof name === 'string' && (PRESET_NAMES as readonly string[]).includes(name)) return name as PresetName;
  const near = typeof name === 'string' ? closest(name, PRESET_NAMES) : null;
  throw new ConfigError(`unknown preset ${formatValue(name)} (${label});${near ? ` did you mean '${near}'?` : ''} ${allowed}`);
}

/** Stores a layer's values; a non-zero duration in steps clears the same duration in epochs and back. */
function apply(values: Map<string, Value>, layer: Layer, byPath: ReadonlyMap<string, Field>, problems: string[]): void {
  for (const [path, value] of layer.values) {
    const partner = byPath.get(path)!.exclusiveWith;
    if (partner && value !== 0) {
      const other = layer.values.get(partner);
      if (other !== undefined && other !== 0) {
        if (path < partner) {
          problems.push(`config fields '${path}', '${partner}': both set (${value} and ${other}) (${layer.label}); allowed: one of them, the other left out or 0`);
        }
      } else {
        values.set(partner, 0);
      }
    }
    values.set(path, value);
  }
}

function build(values: ReadonlyMap<string, Value>): MultiSiamConfig {
  const root: Tree = {};
  for (const [path, value] of values) {
    const keys = path.split('.');
    let node = root;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Tree;
    node[keys[keys.length - 1]!] = Array.isArray(value) ? Object.freeze([...value]) : value;
  }
  const freeze = (t: Tree): Tree => {
    for (const v of Object.values(t)) if (isMapping(v)) freeze(v as Tree);
    return Object.freeze(t);
  };
  // Complete by construction: `values` starts from a default for every field of the table.
  return freeze(root) as unknown as MultiSiamConfig;
}

/** `method is 'multisiam' and dense_target is 'kmeans'`; a list reads `method is 'a' or 'b'`. */
export function conditionText(field: Field): string {
  const alternatives = (v: unknown): string => {
    if (!Array.isArray(v)) return formatValue(v);
    const shown = v.map(formatValue);
    return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : shown.join('');
  };
  return Object.entries(field.when ?? {}).map(([p, v]) => `${p} is ${alternatives(v)}`).join(' and ');
}
