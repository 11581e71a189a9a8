import { pollUntil } from './nats.js';
import { connect } from './ws-client.js';

/** Polls until a spawned gate answers an echo (route 1) through its node: the cluster is up and routed. */
export async function untilGateRoutes(url: string, timeoutMs = 20_000): Promise<void> {
  await pollUntil(
    async () => {
      const c = await connect(url);
      const r = await c.request(1, 'ping', 1000).catch(() => undefined);
      await c[Symbol.asyncDispose]();
      return r?.text === 'ping';
    },
    timeoutMs,
    'the gate routes to the node',
  );
}
