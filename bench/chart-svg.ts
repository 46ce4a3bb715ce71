/**
 * A grouped bar chart as a standalone SVG string: title, y axis with ticks and grid, one
 * group of bars per category, the value over each bar, a legend. Hand-written so that the
 * benchmark needs no chart library; text widths are estimated from the font size, which
 * is close enough for DejaVu Sans (what the PNG renderer is given).
 */

export interface BarSeries {
  label: string;
  /** One per category; null where there is no measurement, and no bar is drawn. */
  values: readonly (number | null)[];
  /** Default: the next colour of the palette. */
  color?: string;
  /** Diagonal stripes over the colour, to tell apart series that share a hue. */
  hatched?: boolean;
  /** White dots over the colour: a third look for a series that shares a hue (stripes win if both are set). */
  dotted?: boolean;
}

export interface GroupedBarChart {
  title: string;
  subtitle?: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  /** The text over each bar and on the y ticks. Default formatCompact. */
  formatValue?: (value: number) => string;
}

/** Tableau 10: distinct hues that survive greyscale printing reasonably. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const FONT = 'DejaVu Sans, Verdana, sans-serif';
const BAR_WIDTH = 18;
const BAR_GAP = 2;
const GROUP_GAP = 28;
const MIN_PLOT_WIDTH = 640;
const PLOT_HEIGHT = 340;
const MARGIN = { left: 86, right: 24, top: 64 };
const TITLE_FONT = 16;
const SUBTITLE_FONT = 11;
const VALUE_FONT = 10;
const AXIS_FONT = 12;
const LEGEND_FONT = 12;
const LEGEND_SWATCH = 12;
const TARGET_TICKS = 5;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** 950 -> "950", 12345 -> "12.3k", 123456 -> "123k", 1234567 -> "1.23M". */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  const scaled = (v: number, unit: string) => `${Number(v.toPrecision(3))}${unit}`;
  if (abs >= 1e6) return scaled(value / 1e6, 'M');
  if (abs >= 1e4) return scaled(value / 1e3, 'k');
  if (abs >= 100) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/** Roughly how wide DejaVu Sans sets `text` at `size` px. */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.6;
}

/** A step of 1, 2 or 5 times a power of ten that cuts [0, max] into about `count` parts. */
export function niceStep(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

/** Greedy word wrap: category names must fit under their group. */
function wrap(text: string, width: number, size: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, size) > width) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

const fixed = (n: number) => String(Math.round(n * 10) / 10);

export function groupedBarSvg(chart: GroupedBarChart): string {
  const { categories, series } = chart;
  series.forEach((s) => {
    if (s.values.length !== categories.length) {
      throw new Error(`series ${JSON.stringify(s.label)} has ${s.values.length} values for ${categories.length} categories`);
    }
  });
  const format = chart.formatValue ?? formatCompact;
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const maxValue = Math.max(0, ...values);

  // Leave room over the tallest bar for its rotated label.
  const labelRoom = Math.max(0, ...values.map((v) => textWidth(format(v), VALUE_FONT))) + 8;
  const scaleMax = maxValue / Math.max(0.2, 1 - labelRoom / PLOT_HEIGHT);
  const step = niceStep(scaleMax, TARGET_TICKS);
  const ticks = Math.max(1, Math.ceil(scaleMax / step));
  const yMax = ticks * step;

  const groupWidth = Math.max(1, series.length) * (BAR_WIDTH + BAR_GAP) - BAR_GAP;
  // Wide enough for the groups, and for the title (bold runs wider than the estimate).
  const titleRoom = Math.max(textWidth(chart.title, TITLE_FONT) * 1.1, textWidth(chart.subtitle ?? '', SUBTITLE_FONT)) -
    MARGIN.left - MARGIN.right + 20;
  const plotWidth = Math.max(MIN_PLOT_WIDTH, categories.length * (groupWidth + GROUP_GAP), titleRoom);
  const slot = plotWidth / Math.max(1, categories.length);
  const categoryLines = categories.map((c) => wrap(c, slot - 6, AXIS_FONT));
  const categoryHeight = Math.max(1, ...categoryLines.map((l) => l.length)) * (AXIS_FONT + 3) + 10;

  const width = MARGIN.left + plotWidth + MARGIN.right;
  const legendItems = series.map((s) => ({ s, w: LEGEND_SWATCH + 6 + textWidth(s.label, LEGEND_FONT) + 18 }));
  const legendRows: (typeof legendItems)[] = [[]];
  let rowWidth = 0;
  for (const item of legendItems) {
    if (rowWidth + item.w > plotWidth && rowWidth > 0) {
      legendRows.push([]);
      rowWidth = 0;
    }
    legendRows[legendRows.length - 1].push(item);
    rowWidth += item.w;
  }
  const legendRowHeight = LEGEND_FONT + 8;
  const plotTop = MARGIN.top;
  const plotBottom = plotTop + PLOT_HEIGHT;
  const legendTop = plotBottom + categoryHeight + 8;
  const height = legendTop + legendRows.length * legendRowHeight + 12;
  const y = (v: number) => plotBottom - (v / yMax) * PLOT_HEIGHT;
  const colorOf = (i: number) => series[i].color ?? PALETTE[i % PALETTE.length];
  const fillOf = (i: number) => (series[i].hatched ? `url(#hatch-${i})` : series[i].dotted ? `url(#dots-${i})` : colorOf(i));

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${fixed(width)}" height="${fixed(height)}" ` +
    `viewBox="0 0 ${fixed(width)} ${fixed(height)}" font-family="${FONT}">`);
  out.push(`<title>${escapeXml(chart.title)}</title>`);
  const patterned = series.map((s, i) => ({ s, i })).filter(({ s }) => s.hatched || s.dotted);
  if (patterned.length > 0) {
    out.push('<defs>');
    for (const { s, i } of patterned) {
      if (s.hatched) {
        out.push(`<pattern id="hatch-${i}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">` +
          `<rect width="6" height="6" fill="${escapeXml(colorOf(i))}"/>` +
          '<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2.5" stroke-opacity="0.55"/></pattern>');
      } else {
        out.push(`<pattern id="dots-${i}" patternUnits="userSpaceOnUse" width="5" height="5">` +
          `<rect width="5" height="5" fill="${escapeXml(colorOf(i))}"/>` +
          '<circle cx="2.5" cy="2.5" r="1.3" fill="#ffffff" fill-opacity="0.7"/></pattern>');
      }
    }
    out.push('</defs>');
  }
  out.push(`<rect x="0" y="0" width="${fixed(width)}" height="${fixed(height)}" fill="#ffffff"/>`);
  out.push(`<text x="${fixed(width / 2)}" y="26" text-anchor="middle" font-size="${TITLE_FONT}" font-weight="bold">${escapeXml(chart.title)}</text>`);
  if (chart.subtitle) {
    out.push(`<text x="${fixed(width / 2)}" y="45" text-anchor="middle" font-size="${SUBTITLE_FONT}" fill="#555555">${escapeXml(chart.subtitle)}</text>`);
  }

  // y axis: grid, ticks, label
  out.push('<g class="y-axis">');
  for (let k = 0; k <= ticks; k++) {
    // k * step, not a running sum: 0.1 + 0.2 would print as 0.30000000000000004
    const v = Number((k * step).toPrecision(12));
    const ty = fixed(y(v));
    out.push(`<line x1="${MARGIN.left}" y1="${ty}" x2="${fixed(MARGIN.left + plotWidth)}" y2="${ty}" stroke="${v === 0 ? '#333333' : '#e3e3e3'}"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${fixed(y(v) + 4)}" text-anchor="end" font-size="${AXIS_FONT - 1}" fill="#333333">` +
      `${escapeXml(format(v))}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" y1="${plotTop}" x2="${MARGIN.left}" y2="${plotBottom}" stroke="#333333"/>`);
  const yLabelX = 16;
  const yLabelY = plotTop + PLOT_HEIGHT / 2;
  out.push(`<text x="${yLabelX}" y="${fixed(yLabelY)}" transform="rotate(-90 ${yLabelX} ${fixed(yLabelY)})" text-anchor="middle" ` +
    `font-size="${AXIS_FONT}">${escapeXml(chart.yLabel)}</text>`);
  out.push('</g>');

  // bars, values and category names
  out.push('<g class="bars">');
  categories.forEach((category, c) => {
    const groupLeft = MARGIN.left + c * slot + (slot - groupWidth) / 2;
    series.forEach((s, i) => {
      const v = s.values[c];
      if (v === null) return;
      const x = groupLeft + i * (BAR_WIDTH + BAR_GAP);
      const top = y(Math.max(0, v));
      const text = format(v);
      out.push(`<rect class="bar" data-value="${v}" x="${fixed(x)}" y="${fixed(top)}" width="${BAR_WIDTH}" ` +
        `height="${fixed(plotBottom - top)}" fill="${escapeXml(fillOf(i))}" stroke="${escapeXml(colorOf(i))}" stroke-width="0.5">` +
        `<title>${escapeXml(`${s.label}, ${category}: ${text}`)}</title></rect>`);
      const lx = fixed(x + BAR_WIDTH / 2 + VALUE_FONT / 2 - 1);
      const ly = fixed(top - 4);
      out.push(`<text class="value" x="${lx}" y="${ly}" transform="rotate(-90 ${lx} ${ly})" font-size="${VALUE_FONT}" ` +
        `fill="#222222">${escapeXml(text)}</text>`);
    });
    const cx = fixed(MARGIN.left + c * slot + slot / 2);
    const lines = categoryLines[c].map((l, k) =>
      `<tspan x="${cx}" dy="${k === 0 ? 0 : AXIS_FONT + 3}">${escapeXml(l)}</tspan>`);
    out.push(`<text class="category" x="${cx}" y="${fixed(plotBottom + AXIS_FONT + 6)}" text-anchor="middle" ` +
      `font-size="${AXIS_FONT}">${lines.join('')}</text>`);
  });
  out.push('</g>');

  // legend, in rows under the categories
  out.push('<g class="legend">');
  legendRows.forEach((row, r) => {
    const rowW = row.reduce((sum, item) => sum + item.w, 0);
    let x = MARGIN.left + (plotWidth - rowW) / 2;
    const ly = legendTop + r * legendRowHeight;
    for (const { s, w } of row) {
      const i = series.indexOf(s);
      out.push(`<rect x="${fixed(x)}" y="${fixed(ly)}" width="${LEGEND_SWATCH}" height="${LEGEND_SWATCH}" ` +
        `fill="${escapeXml(fillOf(i))}" stroke="${escapeXml(colorOf(i))}" stroke-width="0.5"/>`);
      out.push(`<text x="${fixed(x + LEGEND_SWATCH + 6)}" y="${fixed(ly + LEGEND_SWATCH - 1)}" font-size="${LEGEND_FONT}">` +
        `${escapeXml(s.label)}</text>`);
      x += w;
    }
  });
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
