export * from './target';
export * from './errors';
export * from './host';
