/**
 * The method registry (one line per method) and the configuration schema it composes: the shared
 * field rows and rules (src/config/) plus each method's own rows, defaults and rules. Everything that
 * resolves, hashes or describes a configuration goes through `CONFIG` here; everything that needs
 * a method's behaviour goes through `methodFor(cfg)`.
 */
import { type ConfigSchema as Schema, ConfigSchema } from '../config/load.js';
import type { ResolveOptions } from '../config/load.js';
import type { Rule } from '../config/rules.js';
import { SHARED_RULES } from '../config/rules.js';
import { type Condition, type ConfigPath, type Field, type MultiSiamConfig, SHARED_FIELDS, oneOf } from '../config/schema.js';
import { byol } from './byol.js';
import { densecl } from './densecl.js';
import type { Method } from './method.js';
import { mocov2 } from './mocov2.js';
import { multisiam } from './multisiam.js';
import { pixpro } from './pixpro.js';

const REGISTERED = [multisiam, byol, mocov2, densecl, pixpro] as const;

/** Every method, in the order `multisiam config` and the docs list them. */
export const METHODS: readonly Method[] = REGISTERED;

export const METHOD_NAMES: readonly string[] = METHODS.map((m) => m.name);

/** The method a configuration trains (resolveConfig has checked `method` names one). */
export function methodFor(cfg: MultiSiamConfig): Method {
  return methodNamed(cfg.method);
}

export function methodNamed(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new Error(`unknown method '${name}'; registered methods: ${METHOD_NAMES.join(', ')}`);
  return m;
}

/** A method's rows read only under that method, and fields it borrows read under it too. */
function methodRows(): Field[] {
  const readers = (path: string): string[] => METHODS.filter((m) => m.reads.includes(path as never)).map((m) => m.name);
  return METHODS.flatMap((m) =>
    m.fields.map((f): Field => {
      const names = [m.name, ...readers(f.path)];
      const when: Condition = { method: names.length === 1 ? m.name : names, ...f.when };
      return { ...f, when };
    }),
  );
}

/** A method runs only in the frameworks it is defined in. */
const FRAMEWORK_RULE: Rule = {
  doc: 'each method runs in the frameworks it is defined in (MultiSiam in both; each baseline in its own)',
  check: (c) => {
    const m = METHODS.find((x) => x.name === c.method);
    if (!m || m.frameworks.includes(c.framework)) return null;
    return {
      fields: ['method', 'framework'],
      problem: `method '${m.name}' with framework '${c.framework}' is not a defined ${m.kind === 'baseline' ? 'baseline' : 'variant'}`,
      allowed: `framework ${m.frameworks.map((f) => `'${f}'`).join(' or ')} when method is '${m.name}'`,
    };
  },
};

/** Fields a method would read that another method declares must exist; checked once at start-up. */
function checkReads(fields: readonly Field[]): void {
  const known = new Set(fields.map((f) => f.path));
  for (const m of METHODS) {
    const missing = m.reads.filter((p) => !known.has(p));
    if (missing.length > 0) throw new Error(`method '${m.name}' reads ${missing.map((p) => `'${p}'`).join(', ')}, which no method or shared table declares`);
  }
}

/**
 * Row order (what `multisiam config` shows): the method, the framework, the groups only methods
 * own (`alignment`, `kmeans`, …), then the shared groups with any method rows last in each group.
 */
function ordered(): Field[] {
  const sharedGroups = new Set(SHARED_FIELDS.map((f) => f.path.split('.')[0]!));
  const own = methodRows();
  const isFramework = (f: Field): boolean => f.path === 'framework';
  return [
    oneOf('method', METHOD_NAMES, 'multisiam', `training method: ${METHODS.map((m) => `'${m.name}' (${m.title})`).join('; ')}`),
    ...SHARED_FIELDS.filter(isFramework),
    ...own.filter((f) => !sharedGroups.has(f.path.split('.')[0]!)),
    ...SHARED_FIELDS.filter((f) => !isFramework(f)),
    ...own.filter((f) => sharedGroups.has(f.path.split('.')[0]!)),
  ];
}

const FIELDS: readonly Field[] = ordered();

/** Type error here = a leaf of MultiSiamConfig (a method's merged fields included) without a row; the paths are named. */
type DeclaredPath = 'method' | (typeof SHARED_FIELDS)[number]['path'] | (typeof REGISTERED)[number]['fields'][number]['path'];
const everyLeafHasARow: [Exclude<ConfigPath, DeclaredPath>] extends [never] ? true : { readonly missingRows: Exclude<ConfigPath, DeclaredPath> } = true;
void everyLeafHasARow;
checkReads(FIELDS);

/** The configuration schema: shared fields and rules, and every method's. */
export const CONFIG: Schema = new ConfigSchema({
  fields: FIELDS,
  rules: [FRAMEWORK_RULE, ...METHODS.flatMap((m) => m.rules.map((r) => ({ ...r, check: (c: MultiSiamConfig) => (c.method === m.name ? r.check(c) : null) }))), ...SHARED_RULES],
  defaultsFor: (name) => METHODS.find((m) => m.name === name)?.defaults,
});

/** The validated configuration for `options` (see ConfigSchema.resolve). */
export function resolveConfig(options: ResolveOptions = {}): MultiSiamConfig {
  return CONFIG.resolve(options);
}

/** The config hash checkpoints record (see ConfigSchema.hash). */
export function configHash(cfg: MultiSiamConfig): string {
  return CONFIG.hash(cfg);
}

/** The field table, rules and presets as text. */
export function describeConfig(cfg?: MultiSiamConfig): string {
  return CONFIG.describe(cfg);
}
