/**
 * NVMe Qualified Names (NVMe Base Specification, "NVMe Qualified Names"): the grammar the
 * gateway's target applies to every host and subsystem NQN (native/spec/fabrics.h,
 * valid_nqn), checked here by the same rules, so that a node id the controller accepts is
 * one the target will allow on a volume and admit in a Connect.
 */

/** NQNs are at most 223 bytes (UTF-8), without the NUL the wire field adds. */
export const NQN_MAX_BYTES = 223;
/** The well-known NQN of a discovery controller: a subsystem's, never a host's. */
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const UUID_NQN_PREFIX = 'nqn.2014-08.org.nvmexpress:uuid:';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** "nqn." four-digit year, "-", month 01..12, "." (the month as the target checks it). */
const DATE_PREFIX = /^nqn\.\d{4}-(0[1-9]|1[0-2])\./;
/** A DNS label: 1..63 letters, digits or inner hyphens. */
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Whether `n` is an NQN by the target's rules: "nqn.yyyy-mm.<reverse domain>:<anything>"
 * (a domain of two or more labels, a non-empty name after the first colon), the UUID form
 * "nqn.2014-08.org.nvmexpress:uuid:<uuid>", or the discovery NQN; at most 223 bytes and
 * no control characters.
 */
export function isValidNqn(n: string): boolean {
  if (n === '' || Buffer.byteLength(n, 'utf8') > NQN_MAX_BYTES || CONTROL.test(n)) return false;
  if (n === DISCOVERY_NQN) return true;
  // The UUID form's prefix also parses as a dated NQN: like the target, hold it to a UUID.
  if (n.startsWith(UUID_NQN_PREFIX)) return UUID.test(n.slice(UUID_NQN_PREFIX.length));
  const date = DATE_PREFIX.exec(n);
  if (!date) return false;
  const rest = n.slice(date[0].length);
  const colon = rest.indexOf(':');
  if (colon < 0 || colon === rest.length - 1) return false;
  const labels = rest.slice(0, colon).split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l));
}

/** Whether `n` can name a host: a valid NQN other than the discovery NQN. */
export function isHostNqn(n: string): boolean {
  return n !== DISCOVERY_NQN && isValidNqn(n);
}
