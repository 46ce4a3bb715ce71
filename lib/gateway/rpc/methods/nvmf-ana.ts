/**
 * ANA (Asymmetric Namespace Access): SPDK's nvmf_subsystem_listener_set_ana_state,
 * nvmf_subsystem_get_listeners and nvmf_subsystem_set_ns_ana_group. Gateways that export
 * one subsystem (made with ana_reporting and apart cntlid ranges) say through each listener
 * which groups of namespaces are optimized there and which are not reachable, and hosts'
 * native multipath follows.
 */
import { InvalidArgumentError, NotFoundError } from '../../../errors';
import { ANA_STATES } from '../../../nvmf/target';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { addressText, listenAddress, listenAddressJson, NQN, NSID_MAX, sameAddress, secureChannelJson, subsystemOf, toTransport } from './nvmf';

export const nvmfAnaMethods: MethodTable = {
  nvmf_subsystem_listener_set_ana_state: method({
    nqn: NQN, listen_address: listenAddress, ana_state: p.oneOf(ANA_STATES), anagrpid: p.optional(p.integer(1, NSID_MAX)),
  }, { mutates: true })
    .handle(({ nqn, listen_address: la, ana_state, anagrpid }, { state }) => {
      const s = subsystemOf(state, nqn);
      const info = s.info();
      if (!info.anaReporting) throw new InvalidArgumentError(`${nqn} was made without ana_reporting`);
      if (!info.listeners.some(sameAddress(la))) throw new NotFoundError(`No such device: ${nqn} has no listener ${addressText(la)}`);
      if (anagrpid !== undefined && anagrpid > info.maxNamespaces) {
        throw new InvalidArgumentError(`anagrpid ${anagrpid} is outside [1, ${info.maxNamespaces}] (max_namespaces)`);
      }
      s.setListenerAnaState({ transport: toTransport(la.trtype), address: la.traddr, port: la.trsvcid }, ana_state, anagrpid);
      return true;
    }),
  nvmf_subsystem_get_listeners: method({ nqn: NQN }, { mutates: false })
    .handle(({ nqn }, { state }) => subsystemOf(state, nqn).info().listeners.map((l) => ({
      address: listenAddressJson(l),
      ...secureChannelJson(l),
      ...(l.anaStates ? { ana_states: l.anaStates.map((g) => ({ ana_group: g.anagrpid, ana_state: g.state })) } : {}),
    }))),
  nvmf_subsystem_set_ns_ana_group: method({ nqn: NQN, nsid: p.integer(1, NSID_MAX), anagrpid: p.integer(1, NSID_MAX) },
    { mutates: true })
    .handle(({ nqn, nsid, anagrpid }, { state }) => {
      const s = subsystemOf(state, nqn);
      const info = s.info();
      if (!info.namespaces.some((n) => n.nsid === nsid)) throw new NotFoundError(`No such device: no namespace ${nsid} in ${nqn}`);
      if (anagrpid > info.maxNamespaces) throw new InvalidArgumentError(`anagrpid ${anagrpid} is outside [1, ${info.maxNamespaces}] (max_namespaces)`);
      s.setNamespaceAnaGroup(nsid, anagrpid);
      return true;
    }),
};
