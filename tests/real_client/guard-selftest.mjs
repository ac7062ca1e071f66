// Egress guard self-test: shows that a shipstation-node 1.5.6 client whose
// base URL is left at its default (the real ShipStation API) is stopped by
// egress-guard.cjs before any DNS lookup or socket.
//
// Run it with `run.sh guard-selftest.mjs`. It needs no environment variables
// and no server, and it uses placeholder credentials.
//
// Output: exit code 0 and one JSON object on one stdout line,
//   { "blocked": true, "api": <guarded function that threw>,
//     "error": <guard error message> }
// On failure nothing is written to stdout, a message goes to stderr, and the
// exit code is 3 (guard missing, request not blocked, or blocked too late)
// or 1 (any other error).

const EXIT_UNEXPECTED = 1;
const EXIT_GUARD_FAILED = 3;

const DEFAULT_API_HOST = 'ssapi.shipstation.com';

function fail(message, exitCode) {
  process.stderr.write(`guard-selftest: ${message}\n`);
  process.exit(exitCode);
}

// Returns the guard error found in error or its cause chain, or null. axios
// 1.21.1 rejects with the guard error itself, and the chain covers a wrapper.
function findGuardError(error) {
  for (let current = error; current; current = current.cause) {
    if (current.code === 'ERR_EGRESS_BLOCKED') {
      return current;
    }
  }
  return null;
}

async function main() {
  const guard = globalThis.storebridgeEgressGuard;
  if (guard?.installed !== true) {
    fail('egress guard is not loaded: run with `node --require ./egress-guard.cjs`, as run.sh does', EXIT_GUARD_FAILED);
  }

  const { default: ShipStation } = await import('shipstation-node');
  const client = new ShipStation({
    credentials: { v1: { apiKey: 'placeholder-key', apiSecret: 'placeholder-secret' } },
  });

  const lookupsBefore = guard.passedLookups;
  const connectsBefore = guard.passedConnects;

  let caught = null;
  try {
    await client.v1.orders.list({ storeId: 1 });
  } catch (error) {
    caught = error;
  }

  if (caught === null) {
    fail(`a request to the default base URL ${client.v1.baseURL} succeeded, so the guard did not block it`, EXIT_GUARD_FAILED);
  }
  const guardError = findGuardError(caught);
  if (guardError === null) {
    fail(`the request failed, but not through the egress guard: ${caught.code ?? caught.name}: ${caught.message}`, EXIT_GUARD_FAILED);
  }
  if (guardError.host !== DEFAULT_API_HOST) {
    fail(`the guard blocked ${guardError.host}, expected ${DEFAULT_API_HOST}: ${guardError.message}`, EXIT_GUARD_FAILED);
  }
  if (guard.passedLookups !== lookupsBefore || guard.passedConnects !== connectsBefore) {
    fail('the guard blocked the request only after a DNS lookup or socket connect had started', EXIT_GUARD_FAILED);
  }

  process.stdout.write(`${JSON.stringify({ blocked: true, api: guardError.api, error: guardError.message })}\n`);
}

try {
  await main();
} catch (error) {
  fail(`unexpected error: ${error?.stack ?? error}`, EXIT_UNEXPECTED);
}
