import type { Run, RunLimits } from '../../../shared/src/schemas/run';

export function duration(run: Run, now: number): string | null {
  if (!run.started_at) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  return formatMs(end - Date.parse(run.started_at));
}

export function formatMs(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/**
 * Date.toLocaleString()'s format, made once, and each time it formatted kept: formatting takes up to
 * a few ms on a busy machine, and a live run's page draws its three times ten times a second.
 */
let dateTime: Intl.DateTimeFormat | undefined;
const formatted = new Map<string, string>();

export function when(iso: string | null): string {
  if (!iso) return '—';
  let text = formatted.get(iso);
  if (text === undefined) {
    dateTime ??= new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    text = dateTime.format(new Date(iso));
    if (formatted.size >= 1000) formatted.clear();
    formatted.set(iso, text);
  }
  return text;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** An argv for people to read, shell-quoted where needed. For display only: runs never go through a shell. */
export function argvText(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** A run's limits in a line: "512.0 MiB memory, 64 processes, no network, sandboxed". */
export function limitsText(limits: RunLimits): string {
  const parts = [
    limits.memory_bytes !== null && `${bytes(limits.memory_bytes)} memory`,
    limits.pids !== null && `${limits.pids} processes`,
    limits.cpu_s !== null && `${limits.cpu_s} s CPU`,
    limits.file_bytes !== null && `${bytes(limits.file_bytes)} per file`,
    `${bytes(limits.log_bytes)} log`,
    limits.network ? 'network' : 'no network',
    limits.sandbox ? 'sandboxed' : 'not sandboxed',
  ];
  return parts.filter(Boolean).join(', ');
}
