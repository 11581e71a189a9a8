import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { locatorContract } from './locator.contract.js';

locatorContract('memory', async () => new MemoryLocator(), {
  // Reported to the lead (issue 5): dispose ends only the per-kind Watchers, not the merged one a several-kind
  // watch() creates; and watch() after dispose registers a queue that nothing ever ends.
  watchAfterDispose: 'MemoryLocator: a two-kind watch and a watch started after dispose never end',
});
