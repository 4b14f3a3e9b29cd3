export * from './money';
export * from './errors';
export * from './settings';
export * from './buckets';
export * from './opening';
export * from './fork';
export * from './merge';
export * from './reinvest';
