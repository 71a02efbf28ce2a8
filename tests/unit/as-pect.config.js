// as-pect: unit specs of the pure rooms (config, json, sampler, policy, shadow).
export default {
  entries: ["tests/unit/**/*.spec.ts"],
  include: [],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
