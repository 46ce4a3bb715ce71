/**
 * The README's fenced blocks, with the markers that say what a test may not run, and an
 * sh block's commands. A marker is an HTML comment (invisible on GitHub) just before a
 * block, blank lines and other markers between:
 *
 *   <!-- readme-test: skip (REASON) -->          the block is not run (a ts block is still type-checked)
 *   <!-- readme-test: skip "TEXT" (REASON) -->   the block's commands that contain TEXT are not run
 *   <!-- readme-test: demo -->                   the block runs against `rdmagate gateway --demo`'s exports
 *
 * Anything else that calls itself a readme-test marker, or a marker with no block after
 * it, is an error: a typo must not make a block pass unrun.
 */

export interface Skip {
  /** Only the commands that contain this; undefined: the whole block. */
  text?: string;
  reason: string;
  /** 1-based README line of the marker. */
  line: number;
}

export interface FencedBlock {
  /** The info string's first word ('' for a bare fence). */
  lang: string;
  /** 1-based README line of the opening fence. */
  line: number;
  /** The nearest heading above it. */
  section: string;
  body: string;
  skips: Skip[];
  demo: boolean;
}

export interface ShCommand {
  /** One command line: continuation lines joined, comments gone. */
  text: string;
  /** 1-based README line where it starts. */
  line: number;
  /** A usage synopsis (`[--flag VALUE]` words), not a command to run. */
  synopsis: boolean;
}

const MARKER = /^<!--\s*readme-test:(.*?)-->\s*$/;
const SKIP = /^skip(?:\s+"([^"]+)")?\s+\((.+)\)$/;

export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  let section = '(top)';
  let pending: { skips: Skip[]; demo: boolean; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // Indented too: a fence inside a list item is a block all the same.
    const fence = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (fence) {
      const close = lines.findIndex((l, j) => j > i && l.trim() === fence[1]);
      if (close === -1) throw new Error(`README:${i + 1}: a fence that is never closed`);
      blocks.push({ lang: fence[2]!, line: i + 1, section, body: lines.slice(i + 1, close).join('\n'),
        skips: pending?.skips ?? [], demo: pending?.demo ?? false });
      pending = undefined;
      i = close;
      continue;
    }
    if (line.includes('readme-test')) {
      const m = MARKER.exec(line.trim());
      if (!m) throw new Error(`README:${i + 1}: not a readme-test marker as the test reads them: ${line}`);
      pending ??= { skips: [], demo: false, line: i + 1 };
      const directive = m[1]!.trim();
      const skip = SKIP.exec(directive);
      if (skip) pending.skips.push({ ...(skip[1] === undefined ? {} : { text: skip[1] }), reason: skip[2]!.trim(), line: i + 1 });
      else if (directive === 'demo') pending.demo = true;
      else throw new Error(`README:${i + 1}: unknown readme-test directive '${directive}'`);
      continue;
    }
    if (pending && line.trim() !== '') throw new Error(`README:${pending.line}: a readme-test marker with no block right after it`);
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
  }
  if (pending) throw new Error(`README:${pending.line}: a readme-test marker with no block after it`);
  return blocks;
}

/** `text` up to a `#` that begins a word outside quotes: the shell's comment. */
function withoutComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '\'' || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      return text.slice(0, i);
    }
  }
  return text;
}

/**
 * An sh block's commands. A line that starts with blanks continues the one before (as a
 * synopsis wraps), and so does one after a trailing backslash.
 */
export function shCommands(block: FencedBlock): ShCommand[] {
  const commands: { text: string; line: number }[] = [];
  let joinNext = false;
  block.body.split('\n').forEach((raw, i) => {
    let text = withoutComment(raw).trimEnd();
    if (text.trim() === '') {
      joinNext = false;
      return;
    }
    const backslash = text.endsWith('\\');
    if (backslash) text = text.slice(0, -1).trimEnd();
    const last = commands[commands.length - 1];
    if (last && (joinNext || /^\s/.test(text))) last.text += ` ${text.trim()}`;
    else commands.push({ text: text.trim(), line: block.line + 1 + i });
    joinNext = backslash;
  });
  return commands.map((c) => ({ ...c, synopsis: /(^|\s)\[/.test(c.text) }));
}
