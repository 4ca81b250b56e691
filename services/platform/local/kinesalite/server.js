// Runs kinesalite (the Kinesis emulator) bound to one address, with LevelDB persistence.
// The kinesalite CLI binds every interface; this keeps the sandbox on loopback.
// Settings come from the environment: KINESIS_HOST, KINESIS_PORT, KINESIS_DATA_DIR.
const kinesalite = require("kinesalite");

const host = process.env.KINESIS_HOST || "127.0.0.1";
const port = Number(process.env.KINESIS_PORT || 4567);
const server = kinesalite({
  path: process.env.KINESIS_DATA_DIR,
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
  shardLimit: 64,
});

server.listen(port, host, (err) => {
  if (err) throw err;
  console.log(`kinesalite listening on http://${host}:${port}`);
});

// kinesalite rethrows a request stream's error (its index.js: req.on('error', err => { throw err })),
// so one client that dies mid-request (a consumer killed with SIGKILL resets its connection) would
// end the emulator for every client. Such an error ends only that request, which had not run yet
// (kinesalite acts once the whole body has arrived); anything else still ends the process.
process.on("uncaughtException", (err) => {
  if (err && (err.code === "ECONNRESET" || err.message === "aborted")) {
    console.error(`kinesalite: a client went away mid-request (${err.code || err.message}); request dropped`);
    return;
  }
  console.error(err);
  process.exit(1);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
