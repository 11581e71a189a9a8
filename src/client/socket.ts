import { ClientUsageError } from './errors.js';
import type {
  SocketCloseEvent,
  SocketErrorEvent,
  SocketMessageEvent,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js';

/** What the client hears from one socket. Called only until `detach()`. */
export interface SocketHandlers {
  open(): void;
  data(data: unknown): void;
  /** The socket closed; `cause` is its last error event (`ws` carries an Error in it, browsers nothing). */
  closed(code: number, reason: string, cause: unknown): void;
  /** A handler threw: reported instead of escaping the socket callback. */
  fault(err: Error): void;
}

export interface AttachedSocket {
  readonly ws: WebSocketLike;
  /** Removes our listeners (the error listener stays as a no-op: `ws` throws an 'error' event nobody listens to). */
  detach(): void;
}

/** Opens a socket (binaryType 'arraybuffer') with our listeners; throws what the constructor throws (bad url). */
export function attachSocket(
  WebSocket: WebSocketConstructor,
  url: string,
  protocols: string | string[] | undefined,
  h: SocketHandlers,
): AttachedSocket {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  let isAttached = true;
  let lastError: unknown;
  // Exceptions never leave a socket callback: a bug surfaces as a fault, not as an uncaught exception.
  const safely = (fn: () => void): void => {
    if (!isAttached) return;
    try {
      fn();
    } catch (err) {
      h.fault(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const onOpen = (): void => safely(() => h.open());
  const onMessage = (e: SocketMessageEvent): void => safely(() => h.data(e.data));
  const onError = (e: SocketErrorEvent): void => {
    lastError = e.error ?? e;
  };
  const onClose = (e: SocketCloseEvent): void => safely(() => h.closed(e.code, e.reason, lastError));
  ws.addEventListener('open', onOpen);
  ws.addEventListener('message', onMessage);
  ws.addEventListener('error', onError);
  ws.addEventListener('close', onClose);
  return {
    ws,
    detach: () => {
      isAttached = false;
      lastError = undefined;
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('message', onMessage);
      ws.removeEventListener('close', onClose);
    },
  };
}

/** Ends a socket without waiting for a closing handshake: terminate() in `ws`, close() elsewhere. Never throws. */
export function dropSocket(ws: WebSocketLike, code: number, reason: string): void {
  try {
    if (ws.terminate !== undefined) ws.terminate();
    else ws.close(code, reason);
  } catch {
    // Already closed or closing: nothing left to end.
  }
}

/** The DOM's send() takes only ArrayBuffer-backed views; the codec's frames are, so this copies only in theory. */
export function sendable(frame: Uint8Array): Uint8Array<ArrayBuffer> {
  const { buffer } = frame;
  return buffer instanceof ArrayBuffer ? new Uint8Array(buffer, frame.byteOffset, frame.byteLength) : frame.slice();
}

/** Inbound message data → bytes; undefined for a text frame (ignored, and not liveness: docs/protocol.md, Transport). */
export function frameBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** UTF-8 bytes a close reason may take (RFC 6455: 125-byte control payload minus the 2-byte code). */
const MAX_REASON_BYTES = 123;

/** close(code, reason) arguments browsers accept (others throw there): code 1000 or 3000-4999, a short reason. */
export function closeArgsError(code: number, reason: string): ClientUsageError | undefined {
  if (!(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
    return new ClientUsageError(`close code must be 1000 or in [3000, 4999], got ${code}`);
  }
  if (new TextEncoder().encode(reason).length > MAX_REASON_BYTES) {
    return new ClientUsageError(`close reason must be at most ${MAX_REASON_BYTES} UTF-8 bytes`);
  }
  return undefined;
}
