#!/usr/bin/env bash
# Fails when a generated file (deepcopy, CRDs, RBAC, the chart's generated
# parts, golden files) differs from what `make generate` writes. It
# regenerates in place, so after a failure the tree holds the fresh files,
# ready to commit.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every file `make generate` writes: deepcopy, CRDs, RBAC, and the golden
# outputs of translate, egressctl translate and egressctl import (inputs
# live beside them and are hashed too, which costs nothing and catches a
# golden case whose input changed without regenerating).
generated() {
  find api -name 'zz_generated*.go'; find crds config/rbac -name '*.yaml'
  find translate/testdata cmd/egressctl/testdata -type f
  find charts/egressgate/files charts/testdata/crds -type f
  echo charts/egressgate/values.yaml; echo charts/egressgate/values.schema.json
}
sum() { generated | sort | xargs sha256sum; }

before=$(sum)
make --no-print-directory generate >/dev/null
after=$(sum)
if [ "$before" != "$after" ]; then
  echo "generated files were stale; 'make generate' rewrote:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  echo "commit the regenerated files." >&2
  exit 1
fi
echo "generated files are up to date"
