/** Checks that involve more than one key, run once on the merged config (single-key rules live in validate.ts). */
import { ConfigError } from '../errors.js';
import { redactUrlCredentials } from '../log/redact.js';
import { parseListenAddr } from './addr.js';
import { type DuetConfig, MIN_RESUME_SECRET_BYTES } from './schema.js';
import { keptValue } from './validate.js';

/** `where(key)` names the source of a key's effective value, e.g. `flag --set x=1: x` or `config/gate.toml:x`. */
export function checkCrossFields(c: DuetConfig, where: (key: string) => string): void {
  const fail = (key: string, value: unknown, rule: string): never => {
    throw new ConfigError(key, keptValue(value), redactUrlCredentials(`${where(key)} ${rule}`));
  };
  const ws = c.network.ws.server;
  if ((ws.keyFile === '') !== (ws.certFile === '')) {
    const key = ws.keyFile === '' ? 'network.ws.server.certFile' : 'network.ws.server.keyFile';
    fail(key, ws.keyFile || ws.certFile, 'is set alone; set both keyFile and certFile for wss://, or neither');
  }
  if (parseListenAddr(ws.addr) === undefined) {
    fail('network.ws.server.addr', ws.addr, `must be host:port (e.g. ":3553"), got ${JSON.stringify(ws.addr)}`);
  }
  if (ws.handshakeTimeoutMs <= 0) {
    // every socket needs a deadline before the upgrade; 0 would let silent sockets hold file descriptors forever
    fail('network.ws.server.handshakeTimeout', ws.handshakeTimeoutMs, 'must be > 0, e.g. "10s"');
  }
  if (!ws.path.startsWith('/'))
    fail('network.ws.server.path', ws.path, `must start with "/", got ${JSON.stringify(ws.path)}`);

  const redis = c.locate.redis;
  const tls = [redis.certFile, redis.keyFile, redis.caFile].filter((f) => f !== '').length;
  if (tls !== 0 && tls !== 3) {
    fail('locate.redis.certFile', redis.certFile, 'TLS needs certFile, keyFile and caFile all set, or none');
  }

  if (c.metrics.addr !== '' && parseListenAddr(c.metrics.addr) === undefined) {
    fail(
      'metrics.addr',
      c.metrics.addr,
      `must be "" (off) or host:port (e.g. "127.0.0.1:9100"), got ${JSON.stringify(c.metrics.addr)}`,
    );
  }

  if (c.admin.addr !== '' && parseListenAddr(c.admin.addr) === undefined) {
    fail(
      'admin.addr',
      c.admin.addr,
      `must be "" (off) or host:port (e.g. "127.0.0.1:9300"), got ${JSON.stringify(c.admin.addr)}`,
    );
  }

  const an = c.admin.nats;
  const anSet = (Object.keys(an) as (keyof typeof an)[]).find((k) => an[k] !== '');
  if (anSet !== undefined && c.bus.adapter !== 'nats') {
    // The dashboard's own identity is a NATS sign-in: with the memory bus there is nothing to sign in to.
    const shown = anSet === 'pass' || anSet === 'token' ? '***' : an[anSet];
    fail(`admin.nats.${anSet}`, shown, `needs bus.adapter = "nats" (got "${c.bus.adapter}")`);
  }
  const at = c.admin.tls;
  if ((at.certFile === '') !== (at.keyFile === '')) {
    const key = at.certFile === '' ? 'admin.tls.keyFile' : 'admin.tls.certFile';
    fail(
      key,
      at.certFile || at.keyFile,
      'is set alone; set both admin.tls.certFile and admin.tls.keyFile for https://, or neither',
    );
  }

  if (c.timezone !== 'Local') {
    try {
      new Intl.DateTimeFormat('en', { timeZone: c.timezone });
    } catch {
      fail(
        'timezone',
        c.timezone,
        `must be "Local" or an IANA time zone such as "UTC" or "Asia/Shanghai", got ${JSON.stringify(c.timezone)}`,
      );
    }
  }

  if (c.log.classifiedStorage && c.log.file === '') {
    fail('log.classifiedStorage', true, 'needs log.file (per-level files are named after it)');
  }

  const resume = c.session.resume;
  if (resume.windowMs > 0 && resume.secret === '') {
    fail('session.resume.window', resume.windowMs, 'is on but session.resume.secret (the token HMAC key) is empty');
  }
  const secretBytes = Buffer.byteLength(resume.secret, 'utf8');
  if (resume.secret !== '' && secretBytes < MIN_RESUME_SECRET_BYTES) {
    // A short HMAC key can be guessed offline from one captured token; the value itself is never shown.
    fail(
      'session.resume.secret',
      '***',
      `must be at least ${MIN_RESUME_SECRET_BYTES} bytes (got ${secretBytes}); e.g. \`openssl rand -hex 32\``,
    );
  }
}
