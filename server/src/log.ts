/**
 * The server's own log: pino, one JSON object per line (level as a word, ISO time), or the same
 * lines made readable by pino-pretty when the output is a terminal or LOG_FORMAT=pretty. Fields are
 * chosen where each line is written; none carries a credential, a token or a query string.
 *
 * JSON lines go to stdout off the event loop (pino's asynchronous destination: what is made while a
 * write is under way goes out with the next one, in order, and what is left is written synchronously
 * at exit). At most LOG_BUFFER_BYTES wait: past that, lines are dropped and counted, and a warning
 * says how many once stdout takes lines again, rather than the server's memory growing, or its event
 * loop waiting, on a reader of stdout that is slow or stuck. LOG_BUFFER_BYTES=0 writes synchronously.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; format: 'json' | 'pretty' | 'auto'; bufferBytes: number }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY);
  const settings: pino.LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Belt and braces: should a header object ever be logged, its credentials are not.
    redact: { paths: ['headers.authorization', 'headers["x-api-key"]', 'headers.cookie', '*.token', '*.secret'], censor: '[redacted]' },
  };
  if (pretty) return pino({ ...settings, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  const sync = options.bufferBytes === 0;
  const destination = pino.destination({ dest: 1, sync, ...(sync ? {} : { maxLength: options.bufferBytes }) });
  const logger = pino(settings, destination);
  // Lines dropped, and how many of them a warning has told of. The destination says it wrote before
  // it counts what left its buffer: the warning waits for that (nextTick), and one that found no room
  // either is not a line of the log, and is tried again at the next write.
  let dropped = 0;
  let told = 0;
  destination.on('drop', () => dropped++);
  const tell = () => {
    const lines = dropped - told;
    if (!lines) return;
    logger.warn(`${lines} line(s) of this log were dropped: stdout took them more slowly than they came, and LOG_BUFFER_BYTES (${options.bufferBytes}) were waiting already`);
    if (dropped === told + lines) told += lines;
    else dropped--;
  };
  destination.on('write', () => {
    if (dropped > told) process.nextTick(tell);
  });
  return logger;
}
