// The one flag parser of every liquidflow-* command: --snake_case flags (kebab-case aliases accepted), --flag value or
// --flag=value, typed by the spec; an unknown flag is an error that lists the known ones. (Node's util.parseArgs has
// no number type and no aliases, so each command would re-check both.)
export type FlagSpec = Record<string, { default: string | number | boolean | undefined; help: string; type: 'string' | 'number' | 'boolean' }>;
export type FlagValues<S extends FlagSpec> = Record<keyof S, string | number | boolean | undefined>;

/** Flags only: a bare argument is an error. */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, program: string): FlagValues<S> {
  return parseCommandLine(argv, spec, program, 0).flags;
}

/** Flags and up to `maxPositionals` bare arguments (file names), in any order. */
export function parseCommandLine<S extends FlagSpec>(argv: string[], spec: S, program: string, maxPositionals: number): { flags: FlagValues<S>; positionals: string[] } {
  const out: Record<string, string | number | boolean | undefined> = {};
  const positionals: string[] = [];
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (positionals.length >= maxPositionals) throw new Error(`unexpected argument '${arg}' (see ${program} --help)`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const rawName = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1); // values may contain '=' (paths)
    const name = rawName.replace(/-/g, '_');
    const s = spec[name];
    if (!s) throw new Error(`unknown flag '--${rawName}'; known flags: ${Object.keys(spec).map((k) => `--${k}`).join(', ')}`);
    if (s.type === 'boolean') {
      out[name] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${rawName} needs a value`);
    if (s.type === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${rawName} must be a number, got '${value}'`);
      out[name] = n;
    } else out[name] = value;
  }
  return { flags: out as FlagValues<S>, positionals };
}

export function helpText(program: string, summary: string, spec: FlagSpec, usage = `${program} [flags]`): string {
  const rows = Object.entries(spec).map(([k, v]) => {
    const def = v.default === undefined ? '' : ` (default: ${v.default})`;
    return `  --${k.padEnd(16)} ${v.help}${def}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nFlags (--snake_case; kebab-case aliases such as --img-size are accepted):\n${rows.join('\n')}\n  --help             show this help`;
}
