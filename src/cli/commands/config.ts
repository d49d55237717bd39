import type { CommandModule } from 'yargs';
import type { MultiSiamConfig } from '../../config/schema.js';
import { closest } from '../../config/fields.js';
import { CONFIG, resolveConfig } from '../../methods/index.js';
import { help, ownHelp, setFlags, textFlag } from '../flags.js';

interface ConfigArgs {
  readonly preset?: string;
  readonly config?: string;
  readonly set?: string[];
  readonly field?: string;
}

/** The fields `--field` names: one field, or every field of a group (`kmeans`, `data.view1`). */
function fieldsNamed(name: string): typeof CONFIG.fields {
  const exact = CONFIG.byPath.get(name);
  if (exact) return [exact];
  if (CONFIG.groups.has(name)) return CONFIG.fields.filter((f) => f.path.startsWith(`${name}.`));
  const near = closest(name, [...CONFIG.byPath.keys(), ...CONFIG.groups]);
  throw new Error(`--field '${name}' is not a config field or group;${near ? ` did you mean '${near}'?` : ''} \`multisiam config\` lists them all`);
}

export const configCommand: CommandModule<object, ConfigArgs> = {
  command: 'config',
  describe: 'List every config field: its value (with --preset/--config/--set), type, default, allowed values and meaning; the cross-field rules; the presets',
  builder: (y) =>
    ownHelp(y)
      .option('preset', { type: 'string', describe: help("Show this preset's values beside the defaults", { allowed: 'tiny | r18 | r50' }) })
      .option('config', { type: 'string', describe: help("Show a config file's resolved values") })
      .option('set', { type: 'string', array: true, describe: help('Show the values with these overrides (repeatable)', { allowed: 'key=value' }) })
      .option('field', { type: 'string', describe: help('Only this field, or every field of this group', { allowed: 'a field path (kmeans.k) or a group (kmeans, data.view1)', default: 'every field' }) })
      .example('$0 config', 'every field with its default')
      .example('$0 config --preset tiny', "the tiny preset's values (defaults shown where they differ)")
      .example('$0 config --field optim', 'the optimizer fields')
      .example('$0 config --preset r50 --set kmeans.k=8 --field kmeans.k', 'one field as a run would see it'),
  handler: (args) => {
    const preset = textFlag('preset', args.preset, 'tiny, r18 or r50');
    const configFile = textFlag('config', args.config, 'a .yaml, .yml or .json file');
    const field = textFlag('field', args.field, 'a field path or group');
    const sets = setFlags(args.set);
    const given = preset !== undefined || configFile !== undefined || sets.length > 0;
    const cfg: MultiSiamConfig | undefined = given
      ? resolveConfig({ ...(preset !== undefined ? { preset } : {}), ...(configFile !== undefined ? { configFile } : {}), sets, onWarning: (m) => console.error(`multisiam: warning: ${m}`) })
      : undefined;
    if (field === undefined) {
      console.log(CONFIG.describe(cfg));
      return;
    }
    for (const f of fieldsNamed(field)) console.log(CONFIG.describeField(f, cfg).join('\n'));
  },
};
