/**
 * The responder of the pass-through baseline: answers every request message with its own bytes on the message's
 * reply subject (one NATS message per request and per response). argv: <nats url> <subject prefix>.
 */
import { connect } from '@nats-io/transport-node';

const [natsUrl = 'nats://127.0.0.1:4222', prefix = 'pt'] = process.argv.slice(2);
const nc = await connect({ servers: [natsUrl], name: 'bench-passthrough-responder' });
nc.subscribe(`${prefix}.req`, {
  callback: (err, msg) => {
    if (err || !msg.reply) return;
    nc.publish(msg.reply, msg.data);
  },
});
await nc.flush();
console.log('passthrough responder ready');
process.on('SIGTERM', () => {
  void nc.drain().finally(() => process.exit(0));
});
