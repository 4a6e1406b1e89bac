// The progress line shared by liquidflow-train, liquidflow-generate and the demo: a redrawn bar on a terminal, plain
// rate-limited lines in logs (always ending with the last), and an ETA that reads as a time.
import { describe, expect, it } from 'vitest';
import { ProgressBar, formatSeconds } from '@liquidflow/core';

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, writes, write: (s: string) => writes.push(s) };
}

describe('ProgressBar', () => {
  it('on a terminal redraws one line in place, with bar, count, fields, rate and ETA', () => {
    const out = stream(true);
    const bar = new ProgressBar(8, { out });
    bar.update(2, 'loss 0.5', 0.5);
    bar.log('a message');
    bar.update(8, 'loss 0.4', 0.5);
    bar.done();
    expect(out.writes[0]).toBe(`\r[${'#'.repeat(6)}${'.'.repeat(18)}] 2/8 loss 0.5 0.50 steps/s eta 12s\x1b[K`);
    expect(out.writes[1]).toBe('\r\x1b[Ka message\n');
    expect(out.writes[2]).toContain(`[${'#'.repeat(24)}] 8/8 loss 0.4 0.50 steps/s eta 0s`);
    expect(out.writes[3]).toBe('\n');
  });

  it('in a log writes whole lines at most every plainEveryMs, and always the last', () => {
    const out = stream(false);
    const bar = new ProgressBar(1000, { out, unit: 'images', plainEveryMs: 60_000 });
    for (let i = 1; i <= 1000; i++) bar.update(i, 'loading', 250);
    bar.done();
    expect(out.writes).toEqual(['1/1000 loading 250 images/s eta 4s\n', '1000/1000 loading 250 images/s eta 0s\n']);
  });

  it('without a rate, uses the average since it was made, and none in its first quarter second', async () => {
    const out = stream(false);
    const bar = new ProgressBar(10, { out, plainEveryMs: 0 });
    bar.update(1, 'loading');
    expect(out.writes[0]).toBe('1/10 loading\n'); // not "1000000 steps/s"
    await new Promise((r) => setTimeout(r, 300));
    bar.update(2);
    const rate = Number(/^2\/10 ([\d.]+) steps\/s eta \d+s\n$/.exec(out.writes[1])?.[1]);
    expect(rate).toBeGreaterThan(2);
    expect(rate).toBeLessThan(6.7); // 2 steps in >= 0.3 s
  });
});

describe('formatSeconds: the ETA', () => {
  it('rounds to the unit it shows before splitting, so no field reads 60', () => {
    expect(formatSeconds(12.4)).toBe('12s');
    expect(formatSeconds(59.6)).toBe('1m00s');
    expect(formatSeconds(119.7)).toBe('2m00s');
    expect(formatSeconds(3599)).toBe('1h00m');
    expect(formatSeconds(4 * 3600 + 59 * 60 + 50)).toBe('5h00m');
    expect(formatSeconds(4 * 3600 + 52 * 60)).toBe('4h52m');
    expect(formatSeconds(Infinity)).toBe('?');
  });
});
