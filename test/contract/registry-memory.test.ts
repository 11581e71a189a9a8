import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { registryContract } from './registry.contract.js';

// The in-process twin passes the same contract as Consul and NATS KV (issue 5): every open() is the same object,
// as every caller in one process shares one MemoryRegistry.
registryContract('memory', async () => {
  const reg = new MemoryRegistry();
  return {
    open: async () => reg,
    close: () => reg[Symbol.asyncDispose](),
  };
});
