/**
 * The params that SPDK's JSON-RPC decodes as booleans, by method, for the methods the
 * gateway serves: the only ones `rdmagate rpc` takes as a bare --flag (true, as rpc.py's
 * switches). Any other bare --flag is a value left out, and refused. The CLI keeps this
 * copy so that one call loads neither the gateway nor the addon; a unit test
 * (cli-rpc.test.ts) holds it equal to the gateway's method table, its schema.
 */
const BOOLEAN_PARAMS: Readonly<Record<string, readonly string[]>> = {
  bdev_nvme_attach_controller: ['hdgst', 'ddgst', 'disable_sq_flow_control'],
  framework_get_config: ['with_batches'],
  nvmf_create_subsystem: ['allow_any_host', 'ana_reporting'],
  nvmf_subsystem_add_listener: ['secure_channel'],
  nvmf_subsystem_allow_any_host: ['allow_any_host'],
  rpc_get_methods: ['current', 'include_aliases'],
};

/** `method`'s boolean params, by path (`a.b` inside an object param); none for a method not known here. */
export function methodBooleanParams(method: string): readonly string[] {
  return Object.hasOwn(BOOLEAN_PARAMS, method) ? BOOLEAN_PARAMS[method]! : [];
}

/** Every method with a boolean param, and those params: for the test that compares them with the gateway's. */
export function booleanParamTable(): Readonly<Record<string, readonly string[]>> {
  return BOOLEAN_PARAMS;
}
