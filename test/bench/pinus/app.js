// pinus 1.7.4 echo cluster for `npm run bench`: master + connector (hybridconnector, raw ws) + one echo backend.
// The bench runner writes config/servers.json and config/master.json with free ports into DUET_PINUS_BASE and
// links app/ (the handlers) there; the master spawns the servers with this same file.
require('reflect-metadata');
const { pinus } = require('pinus');

const base = process.env.DUET_PINUS_BASE;
if (!base) throw new Error('DUET_PINUS_BASE must name the generated pinus base dir');
const app = pinus.createApp({ base });
app.set('name', 'duet-bench-pinus');
app.configure('production|development', 'connector', () => {
  app.set('connectorConfig', {
    connector: pinus.connectors.hybridconnector,
    heartbeat: 30,
    useDict: false,
    useProtobuf: false,
  });
});
app.start();
process.on('uncaughtException', (err) => console.error(app.getServerId(), 'uncaughtException', err));
