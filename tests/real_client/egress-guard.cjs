// Egress guard for the real-client harness. Load it first, with
// `node --require ./egress-guard.cjs`, so that it is in place before any
// client library runs.
//
// shipstation-node 1.5.6 ignores its base-URL option and defaults to the real
// ShipStation API, so a harness mistake could send test traffic off the
// machine. The guard makes every outbound TCP/TLS connection, name lookup and
// fetch() to a host other than 127.0.0.0/8, ::1 or "localhost" throw an
// EgressBlockedError (code ERR_EGRESS_BLOCKED) that names the host. It checks
// the host before the original function runs, so a blocked call starts no DNS
// lookup and opens no socket.
//
// Patched: net.Socket.prototype.connect (reached by http, https, http2, tls
// and undici), net.connect / net.createConnection, tls.connect, dns.lookup,
// dns.promises.lookup and globalThis.fetch. The c-ares resolver functions
// (dns.resolve*, dns.reverse and dns.Resolver) are rejected outright because
// they query the system's DNS server whatever name they get.
// NOTE: UDP (dgram), child processes and native addons are not guarded.
//
// globalThis.storebridgeEgressGuard is set once the guard is installed. It
// counts blocked calls and the calls passed on to the original functions.

'use strict';

const dns = require('node:dns');
const net = require('node:net');
const tls = require('node:tls');

const GUARD_GLOBAL = 'storebridgeEgressGuard';

const ALLOWED_DESCRIPTION = '127.0.0.0/8, ::1 and localhost';

class EgressBlockedError extends Error {
  constructor(host, port, api, reason = `only ${ALLOWED_DESCRIPTION} are allowed`) {
    const target = port === undefined ? host : `${host}:${port}`;
    super(`egress guard blocked ${api} to ${target} because ${reason}`);
    this.name = 'EgressBlockedError';
    this.code = 'ERR_EGRESS_BLOCKED';
    this.host = host;
    this.port = port;
    this.api = api;
  }
}

const loopbackAddresses = new net.BlockList();
loopbackAddresses.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackAddresses.addAddress('::1', 'ipv6');

// Returns true for "localhost", a 127.0.0.0/8 address, ::1, or an
// IPv4-mapped IPv6 form of a 127.0.0.0/8 address.
function isLoopbackHost(host) {
  const bare = String(host).replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  if (bare === 'localhost') {
    return true;
  }
  const family = net.isIP(bare);
  if (family === 4) {
    return loopbackAddresses.check(bare, 'ipv4');
  }
  if (family === 6) {
    return loopbackAddresses.check(bare, 'ipv6');
  }
  return false;
}

function install() {
  const stats = {
    installed: true,
    blocked: [],
    passedLookups: 0,
    passedConnects: 0,
  };

  function recordBlocked(error) {
    stats.blocked.push({ host: error.host, port: error.port, api: error.api });
    return error;
  }

  function assertAllowed(host, port, api) {
    if (!isLoopbackHost(host)) {
      throw recordBlocked(new EgressBlockedError(String(host), port, api));
    }
  }

  // Reads host and port from any argument form that net and tls accept:
  // (options), (port[, host]), (path) and the internal normalized array that
  // net.connect passes on to Socket.prototype.connect. A missing host means
  // "localhost" in Node, and an IPC path is a local socket file.
  function connectTarget(args) {
    let first = args[0];
    if (Array.isArray(first)) {
      first = first[0];
    }
    if (first !== null && typeof first === 'object') {
      // Node treats any truthy options.path as IPC. The http Agent passes
      // path: null for TCP, so a presence check would let TCP through.
      if (first.path) {
        return null;
      }
      return { host: first.host ?? 'localhost', port: first.port };
    }
    if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      const host = typeof args[1] === 'string' ? args[1] : 'localhost';
      return { host, port: Number(first) };
    }
    // A non-numeric string is an IPC path.
    return null;
  }

  function guardConnect(original, api) {
    return function guardedConnect(...args) {
      const target = connectTarget(args);
      if (target !== null) {
        assertAllowed(target.host, target.port, api);
      }
      return original.apply(this, args);
    };
  }

  // tls.connect(options) may wrap an already connected socket passed as
  // options.socket. Host and port then only set SNI and do not open a
  // connection, so that call is let through.
  function guardTlsConnect(original) {
    return function guardedTlsConnect(...args) {
      const options = args.find((arg) => arg !== null && typeof arg === 'object');
      if (options?.socket === undefined) {
        const target = connectTarget(args);
        if (target !== null) {
          assertAllowed(target.host, target.port, 'tls.connect');
        }
      }
      return original.apply(this, args);
    };
  }

  const originalSocketConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedSocketConnect(...args) {
    const target = connectTarget(args);
    if (target !== null) {
      assertAllowed(target.host, target.port, 'net.Socket.connect');
      stats.passedConnects += 1;
    }
    return originalSocketConnect.apply(this, args);
  };

  const guardedNetConnect = guardConnect(net.connect, 'net.connect');
  net.connect = guardedNetConnect;
  net.createConnection = guardedNetConnect;
  tls.connect = guardTlsConnect(tls.connect);

  // "localhost" is allowed by name, so the lookup result is checked too. A
  // hosts file that maps it to another address makes the lookup fail.
  function checkLookupResult(hostname, address, api) {
    const addresses = Array.isArray(address) ? address.map((entry) => entry.address) : [address];
    for (const resolved of addresses) {
      if (!isLoopbackHost(resolved)) {
        const reason = `it resolved to ${resolved}, which is not a loopback address`;
        return recordBlocked(new EgressBlockedError(String(hostname), undefined, api, reason));
      }
    }
    return null;
  }

  const originalLookup = dns.lookup;
  dns.lookup = function guardedLookup(hostname, options, callback) {
    assertAllowed(hostname, undefined, 'dns.lookup');

    const done = typeof options === 'function' ? options : callback;
    if (typeof done !== 'function') {
      // Let Node raise its usual error for a missing callback.
      return originalLookup.call(this, hostname, options, callback);
    }
    stats.passedLookups += 1;

    const checkedCallback = (error, address, family) => {
      if (error) {
        done(error);
        return;
      }
      const blocked = checkLookupResult(hostname, address, 'dns.lookup');
      if (blocked) {
        done(blocked);
        return;
      }
      done(null, address, family);
    };

    if (typeof options === 'function') {
      return originalLookup.call(this, hostname, checkedCallback);
    }
    return originalLookup.call(this, hostname, options, checkedCallback);
  };

  // dns.lookup carries a symbol that makes util.promisify resolve with
  // { address, family }. Copying it keeps that behavior for the wrapper.
  for (const symbol of Object.getOwnPropertySymbols(originalLookup)) {
    Object.defineProperty(dns.lookup, symbol, Object.getOwnPropertyDescriptor(originalLookup, symbol));
  }

  const originalPromisesLookup = dns.promises.lookup;
  dns.promises.lookup = async function guardedPromisesLookup(hostname, options) {
    assertAllowed(hostname, undefined, 'dns.promises.lookup');
    stats.passedLookups += 1;

    const result = await originalPromisesLookup.call(this, hostname, options);
    const addresses = Array.isArray(result) ? result : result.address;
    const blocked = checkLookupResult(hostname, addresses, 'dns.promises.lookup');
    if (blocked) {
      throw blocked;
    }
    return result;
  };

  // A c-ares query reaches the configured DNS server even for a loopback
  // name, so every such function throws.
  function rejectResolverCalls(target, label) {
    const names = Object.getOwnPropertyNames(target).filter(
      (name) => (name.startsWith('resolve') || name === 'reverse') && typeof target[name] === 'function',
    );
    for (const name of names) {
      target[name] = function rejectedResolverCall(hostname) {
        const reason = 'c-ares queries go to the system DNS server';
        throw recordBlocked(new EgressBlockedError(String(hostname), undefined, `${label}.${name}`, reason));
      };
    }
  }

  rejectResolverCalls(dns, 'dns');
  rejectResolverCalls(dns.promises, 'dns.promises');
  rejectResolverCalls(dns.Resolver.prototype, 'dns.Resolver');
  rejectResolverCalls(dns.promises.Resolver.prototype, 'dns.promises.Resolver');

  // Node's fetch (undici) reaches net.Socket.prototype.connect in Node 20.20,
  // but it looks up the host name first. Checking the URL here rejects the call
  // before undici does any work and gives a clearer error.
  if (typeof globalThis.fetch === 'function') {
    const originalFetch = globalThis.fetch;
    globalThis.fetch = async function guardedFetch(input, init) {
      const url = new URL(input instanceof Request ? input.url : String(input));
      assertAllowed(url.hostname, url.port || undefined, 'fetch');
      return originalFetch.call(this, input, init);
    };
  }

  Object.defineProperty(globalThis, GUARD_GLOBAL, {
    value: stats,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

if (globalThis[GUARD_GLOBAL] === undefined) {
  install();
}

module.exports = { EgressBlockedError, isLoopbackHost };
