import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { locatorContract } from './locator.contract.js';

locatorContract('memory', async () => new MemoryLocator());
