/**
 * The server's own log: pino, one JSON object per line (level as a word, ISO time), or the same
 * lines made readable by pino-pretty when the output is a terminal or LOG_FORMAT=pretty. Fields are
 * chosen where each line is written; none carries a credential, a token or a query string.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; format: 'json' | 'pretty' | 'auto' }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY);
  return pino({
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Belt and braces: should a header object ever be logged, its credentials are not.
    redact: { paths: ['headers.authorization', 'headers["x-api-key"]', 'headers.cookie', '*.token', '*.secret'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}
