/**
 * Line links in a log: `#L12` or `#L10-L20` in the address scroll to and highlight those lines, after a
 * reload too; a click on a line number sets one (with Shift, a range from the one set before).
 */
import { useEffect, useRef, useState, type MouseEvent } from 'react';
import type { LogLines } from './logLines';

/** A line link from the address: `#L12` or `#L10-L20` (1-based, inclusive). */
export function parseLineHash(hash: string): { from: number; to: number } | null {
  const m = /^#L(\d{1,9})(?:-L?(\d{1,9}))?$/.exec(hash);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  return { from: Math.min(a, b), to: Math.max(a, b) };
}

export function useLineLinks({ lines, count, waiting, showLine }: { lines: LogLines; count: number; waiting: boolean; showLine: (index: number) => void }) {
  const [linked, setLinked] = useState(() => parseLineHash(location.hash));
  const [linkNote, setLinkNote] = useState<string | null>(null);
  const applied = useRef<string | null>(null);
  useEffect(() => {
    const onHash = () => {
      applied.current = null;
      setLinked(parseLineHash(location.hash));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (!linked || !lines.numbered) return;
    const key = `${linked.from}-${linked.to}`;
    if (applied.current === key) return;
    if (linked.from > count) {
      if (waiting) return; // not here yet
      applied.current = key;
      setLinkNote(`Line ${linked.from.toLocaleString()} is past the end of the log (${count.toLocaleString()} lines).`);
      return;
    }
    applied.current = key;
    setLinkNote(null);
    showLine(linked.from - 1);
  }, [linked, lines, count, waiting, showLine]);
  const onLineLink = (e: MouseEvent<HTMLAnchorElement>, n: number) => {
    e.preventDefault();
    const next = e.shiftKey && linked ? { from: Math.min(linked.from, n), to: Math.max(linked.from, n) } : { from: n, to: n };
    history.replaceState(history.state, '', next.from === next.to ? `#L${next.from}` : `#L${next.from}-L${next.to}`);
    applied.current = `${next.from}-${next.to}`; // already in view: no jump
    setLinkNote(null);
    setLinked(next);
  };
  return { linked, linkNote, onLineLink };
}
