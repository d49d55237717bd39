/**
 * A configuration that cannot be used: bad file, unknown key or preset, bad value, or fields that do
 * not go together. `problems` holds one line per problem found, so a file with three mistakes is
 * reported in one go; the message is those lines joined.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
  }
}
