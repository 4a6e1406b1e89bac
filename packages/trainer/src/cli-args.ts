// Flag parsing in the seed's style: --snake_case flags (kebab-case aliases accepted), --flag value or --flag=value,
// typed by the defaults; an unknown flag is an error that lists the known ones.
export type FlagSpec = Record<string, { default: string | number | boolean | undefined; help: string; type: 'string' | 'number' | 'boolean' }>;

export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, program: string): Record<keyof S, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}' (see --help)`);
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
  void program;
  return out as Record<keyof S, string | number | boolean | undefined>;
}

export function helpText(program: string, summary: string, spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([k, v]) => {
    const def = v.default === undefined ? '' : ` (default: ${v.default})`;
    return `  --${k.padEnd(16)} ${v.help}${def}`;
  });
  return `Usage: ${program} [flags]\n\n${summary}\n\nFlags:\n${rows.join('\n')}\n  --help             show this help`;
}
