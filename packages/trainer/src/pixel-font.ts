// A 3x5 pixel font for the few labels the training pictures need (numbers, 'e', '-', '.', and loss-term names).
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001001001001', '8': '111101111101111', '9': '111101111001111',
  '-': '000000111000000', '.': '000000000000010', ' ': '000000000000000', e: '000111111100111', l: '110010010010111',
  o: '000111101101111', s: '000111100001111', f: '011010111010010', w: '000101101111111', m: '000111111101101',
  t: '010111010010011', h: '100100111101101', v: '000101101101010', p: '000111101111100', k: '100101110101101',
};

/** Draws text with its top-left corner at (x, y), `scale` pixels per font pixel, through a pixel-setting callback. */
export function drawText(text: string, x: number, y: number, scale: number, dot: (x: number, y: number) => void): number {
  let cx = x;
  for (const ch of text) {
    const g = GLYPHS[ch] ?? GLYPHS[' '];
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 3; c++) {
        if (g[r * 3 + c] !== '1') continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) dot(cx + c * scale + dx, y + r * scale + dy);
      }
    }
    cx += 4 * scale;
  }
  return cx - x;
}
