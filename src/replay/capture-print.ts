import { PacketCodec } from '../packet/codec.js';
import { type CaptureEntry, type CaptureHeader, parseCloseData } from './capture-records.js';
import { previewBytes } from './replay-diff.js';

/** Readable lines for `duet capture print`: one per entry, time relative to the first entry. */
export class CapturePrinter {
  readonly #codec: PacketCodec;
  #firstNs: number | undefined;

  constructor(header: CaptureHeader) {
    this.#codec = new PacketCodec(header.packet);
  }

  static headerLine(path: string, h: CaptureHeader): string {
    const p = h.packet;
    return `# ${path}: capture v${h.version} from ${h.source || '(unknown)'} started ${new Date(h.createdMs).toISOString()}, packets ${p.byteOrder}-endian route ${p.routeBytes} B seq ${p.seqBytes} B`;
  }

  line(e: CaptureEntry): string {
    this.#firstNs ??= e.monoNs;
    const rel = `+${((e.monoNs - this.#firstNs) / 1e6).toFixed(3)}ms`;
    const who = `${e.gid || '-'}/${e.cid} uid=${e.uid}${e.nid ? ` node=${e.nid}` : ''}`;
    const head = `${new Date(e.tsMs).toISOString()} ${rel} ${e.direction.padEnd(3)} ${who}`;
    if (e.kind === 'close') {
      const c = parseCloseData(e.data);
      return `${head} close ${c.code}${c.reason ? ` ${JSON.stringify(c.reason)}` : ''}`;
    }
    if (e.kind === 'envelope') return `${head} envelope ${e.subject} ${e.data.length} bytes`;
    const r = this.#codec.decode(e.data);
    if (!r.ok) return `${head} undecodable packet (${r.error.message}) ${previewBytes(e.data)}`;
    const p = r.packet;
    if (p.kind === 'heartbeat') return `${head} heartbeat`;
    return `${head} route ${p.route} seq ${p.seq} body ${p.body.length} bytes: ${previewBytes(p.body)}`;
  }
}
