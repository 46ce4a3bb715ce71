/**
 * SVG to PNG with resvg (@resvg/resvg-js, a devDependency: prebuilt binaries from the
 * registry, no system libraries). The charts name DejaVu Sans; it is loaded from its file
 * when present so that the PNG looks the same on every machine that has it, and from the
 * system fonts otherwise.
 */
import { existsSync } from 'node:fs';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';

const DEJAVU = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];
/** Twice the SVG's size: sharp on high-density screens, still small as a file. */
const ZOOM = 2;

function fontOptions(): NonNullable<ResvgRenderOptions['font']> {
  const files = DEJAVU.filter((f) => existsSync(f));
  return files.length > 0
    ? { fontFiles: files, loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' }
    : { loadSystemFonts: true };
}

export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, { font: fontOptions(), fitTo: { mode: 'zoom', value: ZOOM }, background: '#ffffff' });
  return resvg.render().asPng();
}
