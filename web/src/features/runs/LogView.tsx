import { useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { styledParts } from './ansi';
import { useLineLinks } from './lineLinks';
import { LogSearch } from './logSearch';
import { formatElapsed, useArrivalTimes } from './logTimes';
import type { RunLog } from './useRunLog';

const ROW = 18;
/**
 * The tallest the scrolled content gets: under every browser's maximum element height (about 17.9M
 * px in Firefox, 33.5M in Chromium, where 18 px lines stopped at line 1,864,135). A longer log scrolls
 * in proportion (a pixel of scrollbar is then more than a line), and every line stays reachable.
 */
const MAX_HEIGHT = 8_000_000;
/** Rows rendered past the window's edges, so a scroll shows rows before the next render. */
const OVERSCAN = 8;
/** Search scans for this long at a time, then lets the page breathe. */
const SEARCH_SLICE_MS = 12;
const WRAP_KEY = 'oss-runner.log.wrap';
const TIMES_KEY = 'oss-runner.log.times';

/** Where the content's pixels and the log's lines meet. `top` is the first line shown (fractional). */
function geometry(count: number, height: number) {
  const total = Math.min(count * ROW, MAX_HEIGHT);
  const maxScroll = Math.max(0, total - height);
  const maxTop = Math.max(0, count - height / ROW);
  return {
    total,
    maxScroll,
    maxTop,
    toLine: (px: number) => (maxScroll > 0 ? (px / maxScroll) * maxTop : 0),
    toPx: (line: number) => (maxTop > 0 ? (line / maxTop) * maxScroll : 0),
  };
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

/**
 * One log line with its ANSI colours, and the search term marked. Everything goes through React
 * text nodes: nothing in a log can become markup or script.
 */
function LogLine({ text, term }: { text: string; term: string }) {
  return (
    <span className="text">
      {styledParts(text).map((p, i) => (
        <span key={i} style={p.style}>
          {mark(p.content, term)}
        </span>
      ))}
    </span>
  );
}

/** A view option kept in this browser: on or off, and a setter that keeps it. */
/** When a line arrived, as time since the run started (blank while unknown). */
function LineTime({ elapsed }: { elapsed: number | null }) {
  return (
    <span className="ts" title={elapsed === null ? undefined : `${(elapsed / 1000).toFixed(1)} s after the run started`}>
      {elapsed === null ? '' : formatElapsed(elapsed)}
    </span>
  );
}

function useStoredOption(key: string): [boolean, (on: boolean) => void] {
  const [on, setOn] = useState(() => {
    try {
      return localStorage.getItem(key) === '1';
    } catch {
      return false;
    }
  });
  const set = useCallback(
    (next: boolean) => {
      setOn(next);
      try {
        localStorage.setItem(key, next ? '1' : '0');
      } catch {
        // Storage refused (private mode, say): the choice lasts for this page.
      }
    },
    [key],
  );
  return [on, set];
}

/**
 * The log, virtualized by lines (only the rows in view are in the page, and the content's height is
 * capped, so the millionth line of a log is as reachable as the first), following the end unless you
 * scroll up; incremental search, line links (#L12, #L10-L20), and line wrapping and arrival times
 * (elapsed since the run started) kept per browser.
 */
export function LogView({ runId, log, live }: { runId: string; log: RunLog; live: boolean }) {
  const { lines, version, progress } = log;
  const count = lines.count;
  const scroller = useRef<HTMLDivElement>(null);
  const [height, setHeight] = useState(600);
  const [follow, setFollow] = useState(true);
  const [top, setTop] = useState(0);
  /** The scrollTop the view itself set last: its scroll event is not a person's. */
  const expected = useRef<number | null>(null);
  const [wrap, onWrap] = useStoredOption(WRAP_KEY);
  const [showTimes, onTimes] = useStoredOption(TIMES_KEY);
  const times = useArrivalTimes(runId, showTimes, live);

  const g = geometry(count, height);
  const fits = g.maxScroll === 0;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    setHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  // The scrollbar follows the view's position (not the other way round): lines arriving above a
  // fixed position, or a jump to a line, move it.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (fits && !follow) {
      expected.current = el.scrollTop;
      return;
    }
    const want = follow ? el.scrollHeight : Math.round(g.toPx(top));
    if (Math.abs(el.scrollTop - want) >= 1) el.scrollTop = want;
    expected.current = el.scrollTop;
  });

  // Scrolling up (wheel, keys, scrollbar) stops following; coming back to the end resumes it.
  const onScroll = () => {
    const el = scroller.current;
    if (!el || (expected.current !== null && Math.abs(el.scrollTop - expected.current) < 1)) return;
    expected.current = el.scrollTop;
    if (el.scrollTop >= el.scrollHeight - el.clientHeight - 1) setFollow(true);
    else {
      setFollow(false);
      if (!fits) setTop(g.toLine(el.scrollTop));
    }
  };

  // When a finished log's end gives way to the whole of it, a position held in the end stays on its lines.
  const previous = useRef(lines);
  useEffect(() => {
    const before = previous.current;
    previous.current = lines;
    if (before !== lines && !before.numbered) setTop((t) => t + lines.count - before.count);
  }, [lines]);

  /** Shows line `index` (0-based) mid-window, and stops following. */
  const showLine = useCallback(
    (index: number) => {
      const gg = geometry(count, height);
      setFollow(false);
      setTop(Math.max(0, Math.min(gg.maxTop, index - (height / ROW - 1) / 2)));
    },
    [count, height],
  );

  // Line links: from the address, kept across reloads; a click on a line number sets one (Shift: a range).
  const { linked, linkNote, onLineLink } = useLineLinks({ lines, count, waiting: live || progress !== null, showLine });

  // Search: scanned a slice at a time, and only the lines that arrived since, never the whole log again.
  const [query, setQuery] = useState('');
  const [term, setTerm] = useState('');
  const [current, setCurrent] = useState(0);
  const [search, setSearch] = useState<LogSearch | null>(null);
  // Redrawn after each slice: a count that always moves (the lines scanned could equal the last search's).
  const [, setSlices] = useState(0);
  useEffect(() => {
    setSearch(term ? new LogSearch(term, lines) : null);
    setCurrent(-1);
  }, [term, lines]);
  useEffect(() => {
    if (!search) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const scan = () => {
      if (search.step(SEARCH_SLICE_MS)) setSlices((n) => n + 1);
      if (!search.done) timer = setTimeout(scan, 0);
    };
    scan();
    return () => clearTimeout(timer);
  }, [search, version]);
  const matches = search?.matches ?? [];

  const go = (index: number) => {
    if (!matches.length) return;
    const next = (index + matches.length) % matches.length;
    setCurrent(next);
    showLine(matches[next] ?? 0);
  };
  const find = () => {
    const t = query.trim().toLowerCase();
    if (t !== term) {
      setTerm(t);
      setCurrent(-1);
    } else go(current + 1);
  };
  useEffect(() => {
    if (term && current === -1 && matches.length) go(0);
  });
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      if (e.shiftKey) go(current - 1);
      else find();
    }
  };
  const activeLine = term && current >= 0 ? matches[current] : undefined;

  // The rows in the window: from the first line shown, or the last ones, against the bottom, when following.
  const inView = Math.ceil(height / ROW);
  const atEnd = !fits && follow;
  let first: number;
  let last: number;
  let blockStyle: { top?: number; bottom?: number; position?: 'relative' };
  if (fits) {
    [first, last, blockStyle] = [0, count, { position: 'relative' }];
  } else if (atEnd) {
    [first, last, blockStyle] = [Math.max(0, count - inView - OVERSCAN), count, { bottom: 0 }];
  } else {
    const start = Math.floor(top);
    // Rows above the first are as tall as a row only when lines do not wrap.
    const above = wrap ? 0 : Math.min(start, OVERSCAN);
    first = start - above;
    last = Math.min(count, start + inView + OVERSCAN);
    blockStyle = { top: g.toPx(top) - (top - start) * ROW - above * ROW };
  }
  const elapsedOf = (i: number) => {
    const offset = times ? lines.offsetOf(i) : null;
    return offset === null || !times ? null : times.elapsedAt(offset);
  };
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const n = i + 1;
    const inLink = linked && lines.numbered && n >= linked.from && n <= linked.to;
    rows.push(
      <div key={i} className={`line${i === activeLine ? ' current' : ''}${inLink ? ' linked' : ''}`} data-line={lines.numbered ? n : undefined}>
        {lines.numbered ? (
          <a className="ln" href={`#L${n}`} tabIndex={-1} onClick={(e) => onLineLink(e, n)}>
            {n}
          </a>
        ) : (
          <span className="ln" />
        )}
        {showTimes && <LineTime elapsed={elapsedOf(i)} />}
        <LogLine text={lines.text(i)} term={term} />
      </div>,
    );
  }

  const countText = progress
    ? `Loading the log… ${Math.floor((progress.loaded / Math.max(1, progress.total)) * 100)}%`
    : term
      ? matches.length
        ? `${(current + 1).toLocaleString()} of ${matches.length.toLocaleString()}${search?.done ? '' : '+'}`
        : search?.done
          ? 'no match'
          : 'searching…'
      : `${count.toLocaleString()} ${count === 1 ? 'line' : 'lines'}`;

  return (
    <div className="log">
      <div className="log-tools" role="search">
        <label htmlFor="log-search" className="visually-hidden">
          Search the log
        </label>
        <input id="log-search" type="search" placeholder="Search the log" value={query} onChange={(e) => setQuery(e.target.value)} onKeyDown={onKey} />
        <button type="button" onClick={find}>
          Find
        </button>
        <button type="button" onClick={() => go(current - 1)} disabled={!matches.length} aria-label="Previous match">
          ↑
        </button>
        <button type="button" onClick={() => go(current + 1)} disabled={!matches.length} aria-label="Next match">
          ↓
        </button>
        <span className="muted" aria-live="polite" data-testid="match-count">
          {countText}
        </span>
        <label className="log-option">
          <input type="checkbox" checked={wrap} onChange={(e) => onWrap(e.target.checked)} /> Wrap lines
        </label>
        <label className="log-option">
          <input type="checkbox" checked={showTimes} onChange={(e) => onTimes(e.target.checked)} /> Times
        </label>
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            {live ? 'Follow the end' : 'Go to the end'}
          </button>
        )}
      </div>
      {linkNote && (
        <p className="log-note" role="status">
          {linkNote}
        </p>
      )}
      <div ref={scroller} className={`log-lines${wrap ? ' wrap' : ''}`} onScroll={onScroll} tabIndex={0} role="log" aria-label="Log output" aria-live="off">
        {count === 0 && !progress && <p className="muted empty">{live ? 'Waiting for output…' : 'This run printed nothing.'}</p>}
        <div className="log-content" style={fits ? undefined : { height: g.total }}>
          <div className="log-rows" style={blockStyle}>
            {rows}
          </div>
        </div>
      </div>
    </div>
  );
}
