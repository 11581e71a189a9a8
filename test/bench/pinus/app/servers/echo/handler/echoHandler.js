// The backend echo handler: answers the request body as is (the connector forwards over pinus-rpc).
class EchoHandler {
  async echo(msg) {
    return msg;
  }
}
module.exports.default = () => new EchoHandler();
