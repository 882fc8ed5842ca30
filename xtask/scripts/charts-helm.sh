#!/bin/sh
# Usage: xtask/scripts/charts-helm.sh OUT: the 40 `helm template` calls of the platform that
# charts-platform.sh wrote to OUT, one after another, with the flags kiln passes.
set -eu
out=$(realpath "$1")
for i in 01 02 03 04 05 06 07 08 09 10; do for env in production staging preview test; do
  helm template "c$i" "$out/charts/c$i" --namespace "fleet-$env" --kube-version 1.34.0 \
    --include-crds --values "$out-helm-values/c$i-$env.yaml" > /dev/null
done; done
