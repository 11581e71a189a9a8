import { DuetError, ErrorCode } from '../errors.js';

/** nats-server's default max_payload: NatsBus's until the server's INFO is read, MemoryBus's default limit. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The typed refusal of one message over the bus's max_payload (both buses raise the same error). */
export function payloadTooLarge(subject: string, bytes: number, limit: number): DuetError {
  return new DuetError(
    ErrorCode.BUS_PAYLOAD_TOO_LARGE,
    `message of ${bytes} B on ${subject} is over the bus max_payload of ${limit} B`,
  );
}

/** What a batcher's owner reports when the bus did not take a batch: the cause, with what was lost and where to. */
export function lostOnBus(err: DuetError, count: number, what: string): DuetError {
  return new DuetError(err.code, `${count} ${what} lost: ${err.message}`, { cause: err });
}
