// Answers the installed gate through duet/client: prints route 5's reply to argv[3] sent to the gate at argv[2].
import { Client } from 'duet/client';
import WebSocket from 'ws';

const [url, body] = process.argv.slice(2);
const client = new Client({ url, WebSocket, reconnect: { enabled: false }, requestTimeoutMs: 5000 });
await client.connect();
const reply = await client.request(5, new TextEncoder().encode(body));
console.log(new TextDecoder().decode(reply.body));
await client.close();
