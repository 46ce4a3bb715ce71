/** NGUID and UUID helpers: 16 bytes as the wire has them, text as nvme-cli prints them. */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../../errors';

export function uuidBytes(text: string = randomUUID()): Uint8Array {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
    throw new InvalidArgumentError(`invalid UUID '${text}'`);
  }
  return Uint8Array.from(Buffer.from(text.replace(/-/g, ''), 'hex'));
}

export function nguidBytes(text?: string): Uint8Array {
  if (text === undefined) return uuidBytes();
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new InvalidArgumentError(`invalid NGUID '${text}': 32 hex digits expected`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function uuidText(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function nguidText(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
