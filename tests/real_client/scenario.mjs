// Real-client scenario: drives storebridge with the npm ShipStation V1 client
// shipstation-node 1.5.6 and prints what the client got back.
//
// Run it through run.sh, which starts
//   node --require ./egress-guard.cjs --import ./register.mjs scenario.mjs
// The scenario exits with code 3 if the egress guard is not loaded.
//
// Input (environment variables, all required):
//   STOREBRIDGE_URL  https URL of the proxy on a loopback host, for example
//                    https://127.0.0.1:8443. Its path, if any, prefixes the
//                    V1 paths (/orders, /stores/{id}, ...). The egress guard
//                    rejects any other host (exit code 3).
//   SS_API_KEY       V1 API key. Every request carries
//   SS_API_SECRET    "Authorization: Basic base64(KEY:SECRET)".
//   LEGACY_STORE_ID  Legacy Miva store ID, a non-negative decimal integer.
//   WEBHOOK_TARGET   Absolute URL sent as target_url when subscribing. The
//                    scenario never connects to it.
//   NODE_EXTRA_CA_CERTS  PEM file of the CA that signed the proxy certificate.
//                    Certificate verification stays on.
//   SCENARIO_TIMEOUT_SECONDS  Optional. Deadline for the whole run, default 60.
//
// Steps, in order:
//   a. Guard probe: tls.connect, net.connect, dns.promises.lookup and fetch()
//      to ssapi.shipstation.com:443 must each throw ERR_EGRESS_BLOCKED without
//      starting a DNS lookup or opening a socket. Only then is
//      shipstation-node loaded.
//   b. GET  /orders?storeId=LEGACY_STORE_ID       (v1.orders.list)
//   c. GET  /stores/LEGACY_STORE_ID               (v1.stores.get)
//   d. POST /orders/createorder with advancedOptions.storeId = LEGACY_STORE_ID
//      (v1.orders.createOrUpdate). orderNumber is "RC-1001", orderKey is
//      "rc-<random UUID>", orderDate is the current UTC time in ISO 8601,
//      orderStatus is "awaiting_shipment", and billTo and shipTo are one
//      fixed US address.
//   e. POST /webhooks/subscribe with store_id = LEGACY_STORE_ID, event
//      ORDER_NOTIFY, target_url = WEBHOOK_TARGET and friendly_name
//      "storebridge real-client test" (v1.webhooks.subscribe).
//   Store IDs are sent as JSON numbers in bodies and as decimal text in paths
//   and query strings.
//
// Output on success: exit code 0 and exactly one JSON object on one stdout line:
//   { "guardBlocked": true,         // step a passed, so never false here
//     "ordersList":   <body of b>,  // JSON response bodies, or text if not JSON
//     "store":        <body of c>,
//     "createdOrder": <body of d>,
//     "subscribe":    <body of e> }
// On failure nothing is written to stdout, a message goes to stderr, and the
// exit code is
//   1  a request failed (HTTP error status, TLS or connection error), the
//      deadline passed, or shipstation-node failed to load
//   2  a required environment variable is missing or invalid
//   3  the egress guard is not loaded, did not block the probe, or blocked a
//      request to a host outside loopback
// Progress lines go to stderr.

import dns from 'node:dns';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';

const EXIT_REQUEST_FAILED = 1;
const EXIT_INVALID_ENV = 2;
const EXIT_GUARD_FAILED = 3;

const BLOCKED_HOST = 'ssapi.shipstation.com';
const BLOCKED_PORT = 443;
const DEFAULT_TIMEOUT_SECONDS = 60;

class ScenarioError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

function log(message) {
  process.stderr.write(`real-client: ${message}\n`);
}

function requireEnv(name) {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new ScenarioError(`missing environment variable ${name}. The header of scenario.mjs lists the required values`, EXIT_INVALID_ENV);
  }
  return value.trim();
}

function parseUrlEnv(name) {
  const value = requireEnv(name);
  try {
    return new URL(value);
  } catch {
    throw new ScenarioError(`invalid ${name} ${JSON.stringify(value)}: expected an absolute URL`, EXIT_INVALID_ENV);
  }
}

function readConfig() {
  const storebridgeUrl = parseUrlEnv('STOREBRIDGE_URL');
  if (storebridgeUrl.protocol !== 'https:') {
    throw new ScenarioError(
      `invalid STOREBRIDGE_URL ${storebridgeUrl.href}: expected an https URL, because the proxy is tested over TLS`,
      EXIT_INVALID_ENV,
    );
  }

  const rawStoreId = requireEnv('LEGACY_STORE_ID');
  const legacyStoreId = Number(rawStoreId);
  if (!/^\d+$/.test(rawStoreId) || !Number.isSafeInteger(legacyStoreId)) {
    throw new ScenarioError(
      `invalid LEGACY_STORE_ID ${JSON.stringify(rawStoreId)}: expected a decimal integer below 2^53`,
      EXIT_INVALID_ENV,
    );
  }

  const rawTimeout = process.env.SCENARIO_TIMEOUT_SECONDS ?? String(DEFAULT_TIMEOUT_SECONDS);
  const timeoutSeconds = Number(rawTimeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new ScenarioError(
      `invalid SCENARIO_TIMEOUT_SECONDS ${JSON.stringify(rawTimeout)}: expected a positive number of seconds`,
      EXIT_INVALID_ENV,
    );
  }

  return {
    storebridgeUrl: storebridgeUrl.href,
    apiKey: requireEnv('SS_API_KEY'),
    apiSecret: requireEnv('SS_API_SECRET'),
    legacyStoreId,
    webhookTarget: parseUrlEnv('WEBHOOK_TARGET').href,
    timeoutSeconds,
  };
}

// Counts the active handles and requests that a DNS lookup or a TCP or TLS
// socket creates (resource names as Node 20.20 reports them). The probe
// compares the count before and after each blocked call, which checks the
// guard without trusting its own bookkeeping.
function countNetworkResources() {
  const networkTypes = new Set(['TCPSocketWrap', 'TCPConnectWrap', 'GetAddrInfoReqWrap']);
  return process.getActiveResourcesInfo().filter((type) => networkTypes.has(type)).length;
}

async function expectBlocked(api, attempt, guard) {
  const resourcesBefore = countNetworkResources();
  const lookupsBefore = guard.passedLookups;
  const connectsBefore = guard.passedConnects;

  let caught = null;
  try {
    const pending = attempt();
    // A call that was not blocked may have returned a socket. Destroy it so
    // that it cannot connect once this check has failed.
    pending?.destroy?.();
    await pending;
  } catch (error) {
    caught = error;
  }

  if (caught?.code !== 'ERR_EGRESS_BLOCKED') {
    const outcome = caught === null ? 'succeeded' : `failed with ${caught.code ?? caught.name}: ${caught.message}`;
    throw new ScenarioError(`egress guard did not block ${api} to ${BLOCKED_HOST}: the call ${outcome}`, EXIT_GUARD_FAILED);
  }
  if (!caught.message.includes(BLOCKED_HOST)) {
    throw new ScenarioError(`egress guard error for ${api} does not name ${BLOCKED_HOST}: ${caught.message}`, EXIT_GUARD_FAILED);
  }

  const leaks = [];
  if (guard.passedLookups !== lookupsBefore) {
    leaks.push('a DNS lookup');
  }
  if (guard.passedConnects !== connectsBefore) {
    leaks.push('a socket connect');
  }
  if (countNetworkResources() !== resourcesBefore) {
    leaks.push('a new TCP, TLS or DNS handle');
  }
  if (leaks.length > 0) {
    throw new ScenarioError(`egress guard blocked ${api} only after ${leaks.join(' and ')} had started`, EXIT_GUARD_FAILED);
  }

  log(`guard blocked ${api}: ${caught.message}`);
}

async function probeEgressGuard() {
  const guard = globalThis.storebridgeEgressGuard;
  if (guard?.installed !== true) {
    throw new ScenarioError(
      'egress guard is not loaded: run this file with `node --require ./egress-guard.cjs`, as run.sh does',
      EXIT_GUARD_FAILED,
    );
  }

  const url = `https://${BLOCKED_HOST}:${BLOCKED_PORT}/orders`;
  await expectBlocked('tls.connect', () => tls.connect({ host: BLOCKED_HOST, port: BLOCKED_PORT, servername: BLOCKED_HOST }), guard);
  await expectBlocked('net.connect', () => net.connect(BLOCKED_PORT, BLOCKED_HOST), guard);
  await expectBlocked('dns.promises.lookup', () => dns.promises.lookup(BLOCKED_HOST), guard);
  await expectBlocked('fetch', () => fetch(url), guard);
  return true;
}

function createClient(ShipStation, config) {
  const client = new ShipStation({
    credentials: { v1: { apiKey: config.apiKey, apiSecret: config.apiSecret } },
  });
  // shipstation-node 1.5.6 hard-codes https://ssapi.shipstation.com/ in its V1
  // constructor and has no option for it, so the base URL is replaced on the
  // instance. The egress guard rejects the request if this stops working.
  client.v1.baseURL = config.storebridgeUrl;
  return client;
}

// Joins base URL and path the way axios does, for error messages.
function requestUrl(config) {
  if (!config.baseURL) {
    return config.url;
  }
  return `${config.baseURL.replace(/\/+$/, '')}/${String(config.url).replace(/^\/+/, '')}`;
}

function describeRequestError(step, error) {
  const request = error.config ? `${error.config.method?.toUpperCase()} ${requestUrl(error.config)}` : 'request';
  if (error.response) {
    const body = typeof error.response.data === 'string' ? error.response.data : JSON.stringify(error.response.data);
    return `${step} failed: ${request} returned HTTP ${error.response.status}: ${body}`;
  }
  return `${step} failed: ${request}: ${error.code ?? error.name}: ${error.message}`;
}

async function runStep(step, call) {
  log(`${step}: start`);
  try {
    const data = await call();
    log(`${step}: done`);
    return data;
  } catch (error) {
    if (error?.code === 'ERR_EGRESS_BLOCKED' || error?.cause?.code === 'ERR_EGRESS_BLOCKED') {
      throw new ScenarioError(`${step} tried to connect outside loopback: ${error.message}`, EXIT_GUARD_FAILED);
    }
    throw new ScenarioError(describeRequestError(step, error), EXIT_REQUEST_FAILED);
  }
}

function buildOrder(legacyStoreId) {
  const address = {
    name: 'Real Client Test',
    street1: '1 Test Street',
    city: 'Austin',
    state: 'TX',
    postalCode: '78701',
    country: 'US',
  };
  return {
    orderNumber: 'RC-1001',
    orderKey: `rc-${randomUUID()}`,
    orderDate: new Date().toISOString(),
    orderStatus: 'awaiting_shipment',
    billTo: address,
    shipTo: address,
    advancedOptions: { storeId: legacyStoreId },
  };
}

async function runScenario() {
  const config = readConfig();

  const deadline = setTimeout(() => {
    log(`timed out after ${config.timeoutSeconds} s. Raise SCENARIO_TIMEOUT_SECONDS if the proxy is slow`);
    process.exit(EXIT_REQUEST_FAILED);
  }, config.timeoutSeconds * 1000);
  deadline.unref();

  const guardBlocked = await probeEgressGuard();

  // Imported only now, so that the library loads after the guard probe passed.
  let ShipStation;
  try {
    ({ default: ShipStation } = await import('shipstation-node'));
  } catch (error) {
    throw new ScenarioError(
      `failed to load shipstation-node: ${error.message}. Install it with \`npm ci\` and run with \`--import ./register.mjs\`, as run.sh does`,
      EXIT_REQUEST_FAILED,
    );
  }
  const client = createClient(ShipStation, config);
  const storeId = config.legacyStoreId;

  const ordersList = await runStep('list orders', () => client.v1.orders.list({ storeId }));
  const store = await runStep('get store', () => client.v1.stores.get(storeId));
  const createdOrder = await runStep('create order', () => client.v1.orders.createOrUpdate(buildOrder(storeId)));
  const subscribe = await runStep('subscribe webhook', () =>
    client.v1.webhooks.subscribe({
      target_url: config.webhookTarget,
      event: 'ORDER_NOTIFY',
      store_id: storeId,
      friendly_name: 'storebridge real-client test',
    }),
  );

  return { guardBlocked, ordersList, store, createdOrder, subscribe };
}

try {
  const result = await runScenario();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  log(error instanceof ScenarioError ? error.message : `unexpected error: ${error?.stack ?? error}`);
  process.exitCode = error instanceof ScenarioError ? error.exitCode : EXIT_REQUEST_FAILED;
}
