/**
 * ANSI colours in the log: anser parses the escapes and gives colours as rgb; the 16 standard ones
 * are mapped to the log's own palette (CSS variables --ansi-0 .. --ansi-15 in styles.css, each at
 * least 4.5:1 against the log's background in both schemes); 256-colour and true-colour values are
 * the tool's choice and pass through.
 */
import Anser from 'anser';
import type { CSSProperties } from 'react';

/** anser's rgb for each standard colour, in order: black, red, green, yellow, blue, magenta, cyan, white, then the bright ones. */
const STANDARD = [
  '0, 0, 0', '187, 0, 0', '0, 187, 0', '187, 187, 0', '0, 0, 187', '187, 0, 187', '0, 187, 187', '255,255,255',
  '85, 85, 85', '255, 85, 85', '0, 255, 0', '255, 255, 85', '85, 85, 255', '255, 85, 255', '85, 255, 255', '255, 255, 255',
];
const PALETTE = new Map(STANDARD.map((rgb, i) => [rgb, `var(--ansi-${i})`]));

const colour = (rgb: string) => PALETTE.get(rgb) ?? `rgb(${rgb})`;

export interface Styled {
  content: string;
  style: CSSProperties | undefined;
}

/** A line's parts with their style; a line without escapes is one part, unparsed. */
export function styledParts(text: string): Styled[] {
  if (!text.includes('\u001b')) return [{ content: text, style: undefined }];
  return Anser.ansiToJson(text, { json: true, remove_empty: true }).map((p) => ({
    content: p.content,
    style: {
      color: p.fg ? colour(p.fg) : p.bg ? 'var(--log-bg)' : undefined,
      backgroundColor: p.bg ? colour(p.bg) : undefined,
      fontWeight: p.decorations.includes('bold') ? 700 : undefined,
      fontStyle: p.decorations.includes('italic') ? 'italic' : undefined,
      textDecoration: p.decorations.includes('underline') ? 'underline' : undefined,
    },
  }));
}
