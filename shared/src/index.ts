export * from './schemas/run';
export * from './schemas/logEvent';
export * from './schemas/tool';
export * from './schemas/health';
export * from './schemas/error';
export * from './schemas/auth';
