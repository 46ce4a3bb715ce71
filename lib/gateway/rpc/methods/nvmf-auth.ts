/**
 * DH-HMAC-CHAP on the target: SPDK's nvmf_subsystem_set_keys (a host's keys rotated, by
 * name from the keyring) and nvmf_set_config (the digests and DH groups the target accepts).
 * nvmf_subsystem_add_host (nvmf.ts) gives a host its first keys.
 */
import { NotFoundError } from '../../../errors';
import { DHCHAP_DHGROUPS, DHCHAP_DIGESTS } from '../../../nvmf/dhchap';
import { dhchapSecrets, explainInvalidKey } from '../../keyring';
import { hostKeysId } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { NQN, setHostKeyRefs, subsystemOf } from './nvmf';

export const nvmfAuthMethods: MethodTable = {
  // No key named: the host's keys are cleared, and it connects without authenticating (SPDK's).
  // Queues that have authenticated stay; new ones use the new keys. Its TLS PSK (psk of
  // nvmf_subsystem_add_host) is not one of these keys, and stays.
  nvmf_subsystem_set_keys: method({
    nqn: NQN, host: NQN, dhchap_key: p.optional(p.string()), dhchap_ctrlr_key: p.optional(p.string()),
  }, { mutates: true })
    .handle(({ nqn, host, ...names }, { state }) => {
      const s = subsystemOf(state, nqn);
      if (!s.info().hosts.includes(host)) throw new NotFoundError(`No such device: ${host} is not on the host list of ${nqn}`);
      const keys = state.keyring.dhchapKeys(names);
      try {
        s.setHostKeys(host, dhchapSecrets(keys));
      } catch (e) {
        throw explainInvalidKey(e, keys);
      }
      const psk = state.hostKeys.get(hostKeysId(nqn, host))?.psk;
      setHostKeyRefs(state, nqn, host, { ...keys, ...(psk ? { psk } : {}) });
      return true;
    }),
  // SPDK takes these before its subsystems start only; here they apply at once, to the
  // authentications that start after. SPDK's other params (admin_cmd_passthru,
  // poll_groups_mask, discovery_filter(s), dup_host_policy) have nothing to set here, and
  // are refused as unknown rather than ignored.
  nvmf_set_config: method({
    dhchap_digests: p.optional(p.array(p.oneOf(DHCHAP_DIGESTS))),
    dhchap_dhgroups: p.optional(p.array(p.oneOf(DHCHAP_DHGROUPS))),
  }, { mutates: true })
    .handle(({ dhchap_digests, dhchap_dhgroups }, { state }) => {
      if (dhchap_digests !== undefined || dhchap_dhgroups !== undefined) {
        state.target.setDhchapConfig({ digests: dhchap_digests, dhgroups: dhchap_dhgroups });
      }
      return true;
    }),
};
