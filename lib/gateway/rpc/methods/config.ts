/**
 * The config as a whole: save_config and load_config in SPDK's JSON config shape, the two
 * framework methods rpc.py's own save_config and load_config are built on, and
 * rpc_get_methods.
 */
import { InvalidArgumentError } from '../../../errors';
import { JsonRpcError, toJsonRpcError } from '../../../jsonrpc/errors';
import type { JsonObject } from '../../../jsonrpc/json';
import type { ConfigEntry, GatewayState } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { bdevConfig } from './bdev';
import { keyringConfig } from './keyring';
import { nvmfConfig } from './nvmf';

export type SpdkConfig = {
  subsystems: { subsystem: string; config: ConfigEntry[] }[];
};

/**
 * Config sections in the order they must be replayed: namespaces need their bdevs, and the
 * hosts and backends that authenticate need their keys. `optional`: left out of save_config
 * while empty, so that a config without keys is what it was before the keyring.
 */
const SECTIONS: { subsystem: string; dependsOn: string[]; optional?: true; entries: (state: GatewayState) => ConfigEntry[] }[] = [
  { subsystem: 'keyring', dependsOn: [], optional: true, entries: keyringConfig },
  { subsystem: 'bdev', dependsOn: ['keyring'], entries: bdevConfig },
  { subsystem: 'nvmf', dependsOn: ['bdev', 'keyring'], entries: nvmfConfig },
];

export function saveConfig(state: GatewayState): SpdkConfig {
  return {
    subsystems: SECTIONS.map((s) => ({ subsystem: s.subsystem, config: s.entries(state) }))
      .filter((s, i) => !SECTIONS[i]!.optional || s.config.length > 0),
  };
}

const jsonObject: p.Check<JsonObject> = (value, path) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`${path} must be an object`);
  }
  return value as JsonObject;
};

const configShape = {
  subsystems: p.array(p.object({
    subsystem: p.string(),
    config: p.array(p.object({ method: p.string(), params: p.optional(jsonObject) })),
  })),
};

/** Config entries that load_config runs after all others, in file order: the listeners. */
const OPENS_LAST = new Set(['nvmf_subsystem_add_listener', 'nvmf_subsystem_listener_set_ana_state']);

export const configMethods: MethodTable = {
  save_config: method({}, { mutates: false })
    .handle((_, { state }) => saveConfig(state)),
  load_config: method(configShape, { mutates: true })
    .handle(async ({ subsystems }, ctx) => {
      // Entries run in file order and stop at the first failure, whose error is answered
      // with its own code and the entry's place in the file. Listeners open last (with
      // their ANA states, which need them), as SPDK starts its subsystems once the config is
      // loaded: a host that connects during the load would find a namespace missing (Invalid
      // Namespace, with DNR) or a host, key or ANA state not yet set. Those in the file
      // before a failure still open, as they did.
      const listeners: { at: string; entry: (typeof subsystems)[number]['config'][number] }[] = [];
      const run = async (at: string, entry: (typeof listeners)[number]['entry']) => {
        try {
          await ctx.replay(entry.method, entry.params);
        } catch (e) {
          const err = toJsonRpcError(e);
          throw new JsonRpcError(err.rpcCode, `${at} (${entry.method}): ${err.message}`);
        }
      };
      const openListeners = async () => {
        for (const { at, entry } of listeners.splice(0)) await run(at, entry);
      };
      for (const [i, section] of subsystems.entries()) {
        for (const [j, entry] of section.config.entries()) {
          const at = `subsystems[${i}].config[${j}]`;
          if (OPENS_LAST.has(entry.method)) {
            listeners.push({ at, entry });
            continue;
          }
          try {
            await run(at, entry);
          } catch (e) {
            await openListeners().catch(() => undefined);  // the first failure is the one answered
            throw e;
          }
        }
      }
      await openListeners();
      return true;
    }),
  framework_get_subsystems: method({}, { mutates: false })
    .handle(() => SECTIONS.map((s) => ({ subsystem: s.subsystem, depends_on: s.dependsOn }))),
  // We never batch config entries, so with_batches changes nothing.
  framework_get_config: method({ name: p.string(), with_batches: p.optional(p.boolean()) }, { mutates: false })
    .handle(({ name }, { state }) => {
      const section = SECTIONS.find((s) => s.subsystem === name);
      if (!section) {
        const known = SECTIONS.map((s) => s.subsystem).join(', ');
        throw new InvalidArgumentError(`Subsystem '${name}' not found; this gateway has ${known}`);
      }
      return section.entries(state);
    }),
  // Every method is callable at any time and none has an alias, so neither flag changes the list.
  rpc_get_methods: method({ current: p.optional(p.boolean()), include_aliases: p.optional(p.boolean()) }, { mutates: false })
    .handle((_, ctx) => ctx.methodNames()),
};
