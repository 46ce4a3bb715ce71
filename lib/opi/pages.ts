/**
 * List pagination (AIP-158): page_size (0: a default; more than the maximum: the
 * maximum) and page_token, which is opaque to clients and here the offset of the next
 * item. A token past the end (items deleted meanwhile) gives an empty last page.
 */
import { invalidArgument } from './errors';
import { text, type Raw } from './fields';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 250;

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export function paginate<T>(requestRaw: Raw, all: readonly T[]): Page<T> {
  const size = requestRaw.page_size ?? 0;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw invalidArgument(`page_size must not be negative, got ${String(size)}`);
  }
  const token = text(requestRaw, 'page_token', 'page_token');
  if (token !== '' && !/^(0|[1-9]\d{0,8})$/.test(token)) throw invalidArgument(`page_token '${token}' is not a token this server gave`);
  const start = token === '' ? 0 : Number(token);
  const end = start + Math.min(size || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  return { items: all.slice(start, end), nextPageToken: end < all.length ? String(end) : '' };
}
