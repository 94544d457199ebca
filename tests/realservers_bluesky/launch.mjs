// Starts a PLC directory (@did-plc/server, in memory) and a Bluesky PDS
// (@atproto/pds) bound to 127.0.0.1: neither server takes a listen host, so this
// script creates each one and listens itself. Prints one JSON line
// {"plc": port, "pds": port} once both answer, and stops both on SIGTERM/SIGINT.
//
// Run with the Node 22 of tests/tools/install-pds.sh. Environment:
//   BLUESKY_SERVERS   the folder holding node_modules with both packages
//   PDS_*             the PDS configuration (the test fixture sets them, except
//                     PDS_PORT and PDS_DID_PLC_URL, which this script chooses)
import { once } from 'node:events'
import net from 'node:net'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const servers = process.env.BLUESKY_SERVERS
if (!servers) throw new Error('BLUESKY_SERVERS is not set')
const require = createRequire(path.join(servers, 'package.json'))

async function freePort() {
  const probe = net.createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function listen(app) {
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

// The PLC directory: an express app over an in-memory database.
const plcLib = require('@did-plc/server')
const plc = plcLib.PlcServer.create({ db: plcLib.Database.mock() })
const plcServer = await listen(plc.app)
const plcPort = plcServer.address().port

// The PDS: its public URL is http://localhost:<port> (PDS_HOSTNAME=localhost), so the
// port is chosen before it is created. The PLC URL names `localhost`, not an IP.
const pdsPort = await freePort()
process.env.PDS_PORT = String(pdsPort)
process.env.PDS_DID_PLC_URL = `http://localhost:${plcPort}`
const pdsEntry = require.resolve('@atproto/pds')
const { PDS, envToCfg, envToSecrets, readEnv } = await import(pathToFileURL(pdsEntry).href)
const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.ctx.sequencer.start()
const pdsServer = pds.app.listen(pdsPort, '127.0.0.1')
await once(pdsServer, 'listening')

process.stdout.write(JSON.stringify({ plc: plcPort, pds: pdsPort }) + '\n')

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  pdsServer.closeAllConnections?.()
  await new Promise((resolve) => pdsServer.close(resolve))
  await pds.ctx.destroy()
  plcServer.closeAllConnections?.()
  await new Promise((resolve) => plcServer.close(resolve))
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
