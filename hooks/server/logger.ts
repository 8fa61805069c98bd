import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths whose values are never logged. Hook bodies carry Secrets (credentials being copied into
 * project namespaces); request logs at debug level must not leak them, nor must error details.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'body.related.*.*.data',
  'body.related.*.*.stringData',
  'body.children.*.*.data',
  'body.children.*.*.stringData',
  'body.attachments.*.*.data',
  'body.attachments.*.*.stringData',
  'reply.children[*].data',
  'reply.children[*].stringData',
  'password',
  'token',
  'credentials',
];

export interface LoggerSettings {
  level: string;
  format: 'json' | 'console';
}

export function createLogger(settings: LoggerSettings, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: 'kapsa' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (destination) return pino(options, destination as pino.DestinationStream);
  if (settings.format === 'console') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: false, translateTime: 'SYS:standard' } } });
  }
  return pino(options);
}

export type { Logger };
