export { BufferPool, type BufferPoolOptions, type BufferPoolStats } from './buffer-pool';
export { IoBuffer } from './io-buffer';
