// Same echo served by the connector itself (no backend hop), kept for comparison runs.
class EntryHandler {
  async echo(msg) {
    return msg;
  }
}
module.exports.default = () => new EntryHandler();
