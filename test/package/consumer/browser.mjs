// Bundled by test/package/pack.test.ts with esbuild for platform=browser: duet/client must need no Node built-in.
import { Client } from 'duet/client';

export const client = new Client({ url: 'ws://127.0.0.1:1/' });
