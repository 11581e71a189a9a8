/**
 * WebSocket close codes duet sends (RFC 6455 plus the 4000-4999 private range): the one table. It lives beside the
 * session machine, which assigns most of them (actors/ imports nothing from src/); src/errors.ts re-exports it and
 * docs/errors.md documents every row (checked by test/unit/errors.test.ts).
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  ABNORMAL: 1006,
  TOO_LARGE: 1009,
  INTERNAL: 1011,
  KICKED: 4000,
  HEARTBEAT_TIMEOUT: 4001,
  AUTHORIZE_TIMEOUT: 4002,
  DISPLACED: 4003,
  MALFORMED_BUDGET: 4004,
  RATE_LIMITED: 4005,
  SLOW_CONSUMER: 4006,
  RESUME_EXPIRED: 4007,
  RESUME_OVERFLOW: 4008,
  NODE_UNAVAILABLE: 4010,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
