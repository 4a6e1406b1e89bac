// From the sampler's model-space output to ImageData, canvases and PNG files.
import { encodePngCompressed, imageGrid, toImages } from '@liquidflow/core';

/** Real ImageData in browsers and workers; an object of the same shape where the platform has none (Node). */
export function makeImageData(data: Uint8ClampedArray, width: number, height: number): ImageData {
  if (typeof ImageData !== 'undefined') return new ImageData(data as Uint8ClampedArray<ArrayBuffer>, width, height);
  return { data, width, height, colorSpace: 'srgb' } as ImageData;
}

/** x0 [count, C, H, W] in model space ([-1, 1]) -> one ImageData per image. */
export function latentsToImageData(x: Float32Array, count: number, channels: number, size: number): ImageData[] {
  return toImages(x, count, channels, size).map((img) => makeImageData(img.data, img.width, img.height));
}

type AnyCanvas = HTMLCanvasElement | OffscreenCanvas;

/** Draws an image onto a canvas, resizing the canvas to the image (scale it up with CSS: image-rendering: pixelated). */
export function drawToCanvas(image: ImageData, canvas: AnyCanvas): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('drawToCanvas: the canvas has no 2d context');
  // An ImageData-shaped object from elsewhere (e.g. a worker's plain copy) becomes real ImageData first.
  const plain = image as { data: Uint8ClampedArray; width: number; height: number };
  const real = typeof ImageData !== 'undefined' && !(image instanceof ImageData) ? makeImageData(plain.data, plain.width, plain.height) : image;
  ctx.putImageData(real, 0, 0);
}

/** Tiles images into one ImageData (columns default to ceil(sqrt(n))), `pad` white pixels apart. */
export function imageGridData(images: ImageData[], columns?: number, pad = 2): ImageData {
  const grid = imageGrid(images as { width: number; height: number; data: Uint8ClampedArray }[], columns, pad);
  return makeImageData(grid.data, grid.width, grid.height);
}

/** Draws images as a grid onto a canvas. */
export function drawGridToCanvas(images: ImageData[], canvas: AnyCanvas, columns?: number, pad = 2): void {
  drawToCanvas(imageGridData(images, columns, pad), canvas);
}

/** The PNG bytes of an image (lossless, compressed with CompressionStream; encoded in JS, no canvas needed). */
export function toPngBytes(image: ImageData): Promise<Uint8Array> {
  return encodePngCompressed(image.width, image.height, image.data);
}

/** A PNG Blob of an image, for downloads (URL.createObjectURL) or uploads. */
export async function toPngBlob(image: ImageData): Promise<Blob> {
  return new Blob([(await toPngBytes(image)) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
}
