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

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
