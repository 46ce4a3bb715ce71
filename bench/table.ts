/** A GitHub-flavoured markdown table: a header row, an alignment row, and the body. */

export interface Column {
  title: string;
  /** Numbers read best right-aligned. Default 'left'. */
  align?: 'left' | 'right';
}

/** A pipe inside a cell would end the cell early. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  rows.forEach((r, i) => {
    if (r.length !== columns.length) throw new Error(`row ${i} has ${r.length} cells for ${columns.length} columns`);
  });
  const line = (cells: readonly string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [
    line(columns.map((c) => c.title)),
    `|${columns.map((c) => (c.align === 'right' ? '---:' : '---')).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
