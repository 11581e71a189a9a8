/**
 * The `--set` flags that put a spawned `duet gate|node` on a NATS bus, the Redis locator and the NATS KV registry,
 * with a prefix of its own (subjects, Redis keys, KV bucket) so test files can share servers and run in parallel.
 */
export interface ClusterArgs {
  natsUrl: string;
  /** host:port of the redis-server. */
  redisAddr: string;
  prefix: string;
  /** Registry refresh interval; nodes that stop refreshing leave after 3 of them. Default 500ms. */
  registryInterval?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export function clusterArgs(a: ClusterArgs): string[] {
  const sets = [
    'bus.adapter="nats"',
    `bus.nats.servers=["${a.natsUrl}"]`,
    `bus.nats.prefix="${a.prefix}"`,
    'locate.adapter="redis"',
    `locate.redis.addrs=["${a.redisAddr}"]`,
    `locate.redis.prefix="${a.prefix}:locate"`,
    'registry.adapter="nats"',
    `registry.nats.bucket="${a.prefix}-registry"`,
    `registry.nats.interval="${a.registryInterval ?? '500ms'}"`,
    `log.level="${a.logLevel ?? 'warn'}"`,
  ];
  return sets.flatMap((s) => ['--set', s]);
}
