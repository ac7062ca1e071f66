// ES-module resolve hook for the published build of shipstation-node 1.5.6.
//
// That build ships ES-module syntax in .js files and imports its own files
// without extensions ("./v1/V1API") or as folders ("./v2/types"). Node 20
// rejects both forms (ERR_MODULE_NOT_FOUND and ERR_UNSUPPORTED_DIR_IMPORT).
// This hook retries such a relative specifier with ".js", then "/index.js".
// It only rewrites imports made from files inside the shipstation-node
// package, so a bad import in the harness itself still fails.

const PACKAGE_PATH_MARKER = '/node_modules/shipstation-node/';
const RETRIED_ERROR_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT']);
const CANDIDATE_SUFFIXES = ['.js', '/index.js'];

function isRelative(specifier) {
  return specifier.startsWith('./') || specifier.startsWith('../');
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const importedFromPackage = context.parentURL?.includes(PACKAGE_PATH_MARKER) ?? false;
    if (!importedFromPackage || !isRelative(specifier) || !RETRIED_ERROR_CODES.has(error?.code)) {
      throw error;
    }

    for (const suffix of CANDIDATE_SUFFIXES) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch (retryError) {
        if (!RETRIED_ERROR_CODES.has(retryError?.code)) {
          throw retryError;
        }
      }
    }

    // No candidate exists, so report the original failure.
    throw error;
  }
}
