import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { locatorContract } from './locator.contract.js';

locatorContract(
  'memory',
  async () => new MemoryLocator(),
  {},
  async () => {
    const locator = new MemoryLocator();
    return {
      locator,
      restart: async () => locator.reset(),
      dispose: () => locator[Symbol.asyncDispose](),
    };
  },
);
