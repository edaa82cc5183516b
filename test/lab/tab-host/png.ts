// Screenshots for overview.md as small PNGs: at most 32 colours in a palette PNG (colour type 3), so four screenshots
// cost tens of kilobytes of the .vsix's budget. The pixels come in as RGBA (the browser decodes its own screenshot).
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(kind: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(kind, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * At most `colours` colours, chosen by use (counted on a 5-bit-per-channel grid) and spread apart; every pixel then
 * takes the nearest. Text and flat UI colours survive; gradients band.
 */
export function quantize(rgba: Uint8Array, colours = 32): { palette: number[][]; indices: Uint8Array } {
  const counts = new Map<number, { n: number; r: number; g: number; b: number }>();
  for (let i = 0; i < rgba.length; i += 4) {
    const key = ((rgba[i] >> 3) << 10) | ((rgba[i + 1] >> 3) << 5) | (rgba[i + 2] >> 3);
    const bucket = counts.get(key) ?? { n: 0, r: 0, g: 0, b: 0 };
    bucket.n++;
    bucket.r += rgba[i];
    bucket.g += rgba[i + 1];
    bucket.b += rgba[i + 2];
    counts.set(key, bucket);
  }
  const byUse = [...counts.values()]
    .sort((a, b) => b.n - a.n)
    .map((c) => [Math.round(c.r / c.n), Math.round(c.g / c.n), Math.round(c.b / c.n)]);
  // the most used colours that are not a near shade of one already taken (anti-aliased edges would fill the palette
  // with greys and leave out the small red and green of a status), then the most used of the rest
  const distance = (a: number[], b: number[]) => (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;
  const palette: number[][] = [];
  for (const colour of byUse) {
    if (palette.length === colours) break;
    if (palette.every((p) => distance(p, colour) > 40 ** 2)) palette.push(colour);
  }
  for (const colour of byUse) {
    if (palette.length === colours) break;
    if (!palette.includes(colour)) palette.push(colour);
  }
  const nearest = new Map<number, number>();
  const indices = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < indices.length; i++) {
    const [r, g, b] = [rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]];
    const key = (r << 16) | (g << 8) | b;
    let index = nearest.get(key);
    if (index === undefined) {
      let best = Infinity;
      index = 0;
      for (let p = 0; p < palette.length; p++) {
        const d = (palette[p][0] - r) ** 2 + (palette[p][1] - g) ** 2 + (palette[p][2] - b) ** 2;
        if (d < best) [best, index] = [d, p];
      }
      nearest.set(key, index);
    }
    indices[i] = index;
  }
  return { palette, indices };
}

/** A palette PNG of width x height from RGBA pixels. */
export function palettePng(rgba: Uint8Array, width: number, height: number, colours = 32): Buffer {
  const { palette, indices } = quantize(rgba, colours);
  const rows = Buffer.alloc(height * (width + 1));
  for (let y = 0; y < height; y++) {
    rows[y * (width + 1)] = 0;
    Buffer.from(indices.buffer, indices.byteOffset + y * width, width).copy(rows, y * (width + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 3, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('PLTE', Buffer.from(palette.flat())),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
