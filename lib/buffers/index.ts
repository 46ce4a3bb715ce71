export { BufferPool, type BufferPoolOptions } from './buffer-pool';
export type { BufferPoolStats } from '../native';
export { IoBuffer } from './io-buffer';
