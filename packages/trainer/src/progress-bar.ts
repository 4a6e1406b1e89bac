// One-line progress for long work: a bar on a terminal, a plain line every few seconds otherwise (logs, CI).
export class ProgressBar {
  private lastPlain = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(done: number, fields: string, rate: number): void {
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const text = `${done}/${this.total} ${fields} ${rate.toFixed(2)} steps/s eta ${formatSeconds(eta)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((done / this.total) * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else if (Date.now() - this.lastPlain > 5000 || done === this.total) {
      this.lastPlain = Date.now();
      this.out.write(`${text}\n`);
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  log(message: string): void {
    this.out.write(this.tty ? `\r\x1b[K${message}\n` : `${message}\n`);
  }

  done(): void {
    if (this.tty) this.out.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  // Round to the smallest unit shown before splitting, so 59.6 s reads "1m00s", never "60s" or "4h60m".
  if (s < 59.5) return `${Math.round(s)}s`;
  if (s < 3570) {
    const secs = Math.round(s);
    return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
  }
  const mins = Math.round(s / 60);
  return `${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, '0')}m`;
}
