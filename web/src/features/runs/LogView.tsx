import { useVirtualizer } from '@tanstack/react-virtual';
import Anser from 'anser';
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

const ROW = 18;
const MAX_MATCHES = 100_000;

/**
 * One log line with its ANSI colours, and the search term marked. Everything goes through React
 * text nodes: nothing in a log can become markup or script.
 */
function LogLine({ text, term }: { text: string; term: string }) {
  const parts = text.includes('\u001b') ? Anser.ansiToJson(text, { json: true, remove_empty: true }) : [{ content: text, fg: null, bg: null, decorations: [] as string[] }];
  return (
    <>
      {parts.map((p, i) => {
        const style = {
          color: p.fg ? `rgb(${p.fg})` : undefined,
          backgroundColor: p.bg ? `rgb(${p.bg})` : undefined,
          fontWeight: p.decorations.includes('bold') ? 700 : undefined,
          fontStyle: p.decorations.includes('italic') ? 'italic' : undefined,
          textDecoration: p.decorations.includes('underline') ? 'underline' : undefined,
        };
        return (
          <span key={i} style={style}>
            {mark(p.content, term)}
          </span>
        );
      })}
    </>
  );
}

function mark(text: string, term: string): ReactNode {
  if (!term) return text;
  const lower = text.toLowerCase();
  const out: ReactNode[] = [];
  let from = 0;
  for (let at = lower.indexOf(term); at >= 0; at = lower.indexOf(term, at + term.length)) {
    out.push(text.slice(from, at), <mark key={at}>{text.slice(at, at + term.length)}</mark>);
    from = at + term.length;
  }
  out.push(text.slice(from));
  return out;
}

/** The log, virtualized (a million lines scroll smoothly), following the tail unless you scroll up. */
export function LogView({ lines, version, live }: { lines: string[]; version: number; live: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [term, setTerm] = useState('');
  const [current, setCurrent] = useState(0);
  const count = lines.length;
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 30 });

  useEffect(() => {
    if (follow && count > 0) virtualizer.scrollToIndex(count - 1, { align: 'end' });
  }, [version, count, follow, virtualizer]);

  // Scrolling up (wheel, keys, scrollbar) stops following; coming back to the end resumes it. The
  // direction tells a person's scroll from the view's own, which only ever moves down.
  const lastTop = useRef(0);
  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    if (el.scrollTop < lastTop.current - 1) setFollow(false);
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < ROW * 2) setFollow(true);
    lastTop.current = el.scrollTop;
  }, []);

  const matches = useMemo(() => {
    if (!term) return [];
    const found: number[] = [];
    for (let i = 0; i < lines.length && found.length < MAX_MATCHES; i++) if (lines[i]?.toLowerCase().includes(term)) found.push(i);
    return found;
    // `version` changes whenever lines arrive: the matches follow them.
  }, [term, version, lines]);

  const go = (index: number) => {
    if (!matches.length) return;
    const next = (index + matches.length) % matches.length;
    setCurrent(next);
    setFollow(false);
    virtualizer.scrollToIndex(matches[next] ?? 0, { align: 'center' });
  };

  const search = () => {
    const t = query.trim().toLowerCase();
    if (t !== term) {
      setTerm(t);
      setCurrent(-1);
    } else go(current + 1);
  };
  useEffect(() => {
    if (term && current === -1 && matches.length) go(0);
  }, [term, matches]);

  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      if (e.shiftKey) go(current - 1);
      else search();
    }
  };
  const activeLine = term && current >= 0 ? matches[current] : undefined;

  return (
    <div className="log">
      <div className="log-tools" role="search">
        <label htmlFor="log-search" className="visually-hidden">
          Search the log
        </label>
        <input id="log-search" type="search" placeholder="Search the log" value={query} onChange={(e) => setQuery(e.target.value)} onKeyDown={onKey} />
        <button type="button" onClick={search}>
          Find
        </button>
        <button type="button" onClick={() => go(current - 1)} disabled={!matches.length} aria-label="Previous match">
          ↑
        </button>
        <button type="button" onClick={() => go(current + 1)} disabled={!matches.length} aria-label="Next match">
          ↓
        </button>
        <span className="muted" aria-live="polite" data-testid="match-count">
          {term ? (matches.length ? `${current + 1} of ${matches.length}${matches.length === MAX_MATCHES ? '+' : ''}` : 'no match') : `${count.toLocaleString()} ${count === 1 ? 'line' : 'lines'}`}
        </span>
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            {live ? 'Follow the end' : 'Go to the end'}
          </button>
        )}
      </div>
      <div ref={scroller} className="log-lines" onScroll={onScroll} tabIndex={0} role="log" aria-label="Log output" aria-live="off">
        {count === 0 && <p className="muted empty">{live ? 'Waiting for output…' : 'This run printed nothing.'}</p>}
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((row) => (
            <div
              key={row.key}
              className={`line${row.index === activeLine ? ' current' : ''}`}
              data-line={row.index + 1}
              style={{ transform: `translateY(${row.start}px)`, height: ROW }}
            >
              <span className="ln" aria-hidden="true">
                {row.index + 1}
              </span>
              <LogLine text={lines[row.index] ?? ''} term={term} />
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
