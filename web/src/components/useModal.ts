/**
 * The keyboard and focus contract of a modal dialog (the WAI-ARIA dialog pattern), for the element
 * the returned ref is put on (a role="dialog" or "alertdialog" with tabIndex -1): focus moves into it
 * when it opens (an autoFocus inside it wins), Tab and Shift+Tab cycle inside it, the rest of the
 * page is inert (no focus, no clicks, hidden from screen readers), Escape calls `onEscape` when given,
 * and focus goes back to where it was when the dialog closes.
 */
import { useEffect, useRef, useState } from 'react';

const TABBABLE = ['a[href]', 'button', 'input', 'select', 'textarea', '[tabindex]:not([tabindex="-1"])'].map((s) => `${s}:not([disabled])`).join(',');

/** Makes everything but `keep` and its ancestors inert; answers what it changed, to undo. */
function inertOthers(keep: HTMLElement): HTMLElement[] {
  const changed: HTMLElement[] = [];
  for (let e: HTMLElement | null = keep; e && e !== document.body; e = e.parentElement)
    for (const sibling of e.parentElement?.children ?? [])
      if (sibling !== e && sibling instanceof HTMLElement && !sibling.inert) {
        sibling.inert = true;
        changed.push(sibling);
      }
  return changed;
}

export function useModal<T extends HTMLElement>(onEscape?: () => void) {
  const ref = useRef<T>(null);
  // Where focus was as the dialog rendered first (before any autoFocus inside it took it).
  const [opener] = useState(() => document.activeElement);
  const escape = useRef(onEscape);
  useEffect(() => {
    escape.current = onEscape;
  });

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const tabbables = () => [...dialog.querySelectorAll<HTMLElement>(TABBABLE)].filter((e) => e.checkVisibility());
    const enter = () => (tabbables()[0] ?? dialog).focus();
    if (!dialog.contains(document.activeElement)) enter();
    const inert = inertOthers(dialog);

    const onKeyDown = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && escape.current) {
        e.preventDefault();
        escape.current();
      }
      if (e.key !== 'Tab') return;
      const all = tabbables();
      const active = document.activeElement;
      const outside = !dialog.contains(active);
      if (e.shiftKey && (outside || active === all[0] || active === dialog)) {
        e.preventDefault();
        (all.at(-1) ?? dialog).focus();
      } else if (!e.shiftKey && (outside || active === all.at(-1))) {
        e.preventDefault();
        (all[0] ?? dialog).focus();
      }
    };
    // Focus that lands outside (a script, say) comes back; a click outside takes none away.
    const onFocusIn = (e: FocusEvent) => {
      if (e.target instanceof Node && !dialog.contains(e.target)) enter();
    };
    const onMouseDown = (e: MouseEvent) => {
      if (e.target instanceof Node && !dialog.contains(e.target)) e.preventDefault();
    };
    document.addEventListener('keydown', onKeyDown);
    document.addEventListener('focusin', onFocusIn);
    document.addEventListener('mousedown', onMouseDown);
    return () => {
      document.removeEventListener('keydown', onKeyDown);
      document.removeEventListener('focusin', onFocusIn);
      document.removeEventListener('mousedown', onMouseDown);
      for (const e of inert) e.inert = false;
      if (opener instanceof HTMLElement && opener.isConnected && opener !== document.body) opener.focus();
    };
  }, [opener]);

  return ref;
}
