import { MemoryBus } from '../../src/bus/memory-bus.js';
import { busContract } from './bus.contract.js';

busContract('memory', async () => {
  const bus = new MemoryBus();
  return { bus, dispose: () => bus.drain() };
});
