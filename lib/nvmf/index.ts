export * from './target';
export * from './errors';
export * from './host';
export { DHCHAP_DEFAULT_DHGROUPS, DHCHAP_DEFAULT_DIGESTS, DHCHAP_DHGROUPS, DHCHAP_DIGESTS, type DhchapDhgroup, type DhchapDigest, type DhchapKeys } from './dhchap';
export { encodeTlsPsk, type TlsIdentityVersion, type TlsPsk, type TlsPskHash } from './tls';
