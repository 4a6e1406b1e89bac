// One progress line for long work (training, sampling, dataset loading): a bar redrawn in place on a terminal, a
// plain line every few seconds otherwise (logs, CI), so piped output stays readable. Shared by the trainer, the
// generate CLI and the demo; it only needs a stream with write() (process.stderr in Node).

/** Where a progress line goes; `isTTY` picks the redrawn bar over plain lines. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressBarOptions {
  /** What is counted, for the rate ("steps" gives "2.5 steps/s"). */
  unit?: string;
  out?: ProgressStream;
  /** Plain (non-terminal) output: at most one line this often, plus the last. */
  plainEveryMs?: number;
}

export class ProgressBar {
  private readonly start = Date.now();
  private lastPlain = 0;
  private readonly out: ProgressStream;
  private readonly tty: boolean;
  private readonly unit: string;
  private readonly plainEveryMs: number;

  constructor(private readonly total: number, options: ProgressBarOptions = {}) {
    // process.stderr by default in Node; core also runs in browsers, which pass `out` (or have no use for this).
    const stderr = (globalThis as { process?: { stderr?: ProgressStream } }).process?.stderr;
    if (!options.out && !stderr) throw new Error('ProgressBar: no process.stderr here; pass options.out');
    this.out = options.out ?? stderr!;
    this.tty = Boolean(this.out.isTTY);
    this.unit = options.unit ?? 'steps';
    this.plainEveryMs = options.plainEveryMs ?? 5000;
  }

  /**
   * `rate` in units per second; by default the average since the bar was made, once a quarter second has passed
   * (before that a rate means nothing, and the line leaves rate and ETA out).
   */
  update(done: number, fields = '', rate?: number): void {
    const seconds = (Date.now() - this.start) / 1000;
    const r = rate ?? (seconds >= 0.25 ? done / seconds : NaN);
    const timing = r > 0 && Number.isFinite(r) ? ` ${r.toFixed(r >= 100 ? 0 : 2)} ${this.unit}/s eta ${formatSeconds((this.total - done) / r)}` : '';
    const text = `${done}/${this.total}${fields ? ` ${fields}` : ''}${timing}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((Math.min(done, this.total) / this.total) * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else if (Date.now() - this.lastPlain >= this.plainEveryMs || done === this.total) {
      this.lastPlain = Date.now();
      this.out.write(`${text}\n`);
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  log(message: string): void {
    this.out.write(this.tty ? `\r\x1b[K${message}\n` : `${message}\n`);
  }

  /** Ends the bar's line (a terminal's cursor is still on it). */
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
