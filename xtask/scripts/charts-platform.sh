#!/bin/sh
# Usage (from the repository root): xtask/scripts/charts-platform.sh BASE OUT
# OUT = the fleet in BASE (`cargo xtask fleet`) plus 10 chart bundles in each of its 4
# environments: the fixture chart otel-agent 0.1.0 copied to charts/c01..c10, each bundle with
# its own values.yaml.j2, release, and directory. OUT-helm-values/ gets the same values as
# files, for `charts-helm.sh`. See BENCHMARKS.md, Charts and CRDs.
set -eu
base=$1 out=$2 envs="production staging preview test"
rm -rf "$out" "$out-helm-values" && cp -r "$base" "$out" && rm -rf "$out/.kiln" "$out/k8s"
mkdir -p "$out/charts" "$out-helm-values"
for i in 01 02 03 04 05 06 07 08 09 10; do
  cp -r crates/kiln/tests/fixtures/chart-repo/otel-agent/0.1.0 "$out/charts/c$i"
  mkdir -p "$out/templates/c$i"
  cat > "$out/templates/c$i/values.yaml.j2" <<J2
clusterName: {{ env.name | tojson }}
signoz:
  endpoint: "collector-$i.observability.svc.cluster.local:4317"
image:
  tag: "0.111.$i"
commonLabels:
  app: c$i-otel-agent
  app.kubernetes.io/part-of: {{ platform.name | tojson }}
J2
  for env in $envs; do
    printf '  - { templates: c%s, chart: c%s, release: c%s, dir: charts/c%s, namespace: fleet-%s }\n' \
      $i $i $i $i $env >> "$out/environments/$env.bundles"
    printf 'clusterName: "%s"\nsignoz:\n  endpoint: "collector-%s.observability.svc.cluster.local:4317"\nimage:\n  tag: "0.111.%s"\ncommonLabels:\n  app: c%s-otel-agent\n  app.kubernetes.io/part-of: "fleet"\n' \
      $env $i $i $i > "$out-helm-values/c$i-$env.yaml"
  done
done
for env in $envs; do   # the chart bundles go right after the environment's `bundles:` line
  sed -i "/^bundles:/r $out/environments/$env.bundles" "$out/environments/$env.yaml"
  rm "$out/environments/$env.bundles"
done
# the chart's collector reads the API (rule service-account-token): one exception for all ten
sed -i '/^apps:/i\  exceptions:\n    - { rule: service-account-token, object: { kind: DaemonSet, name: "*-otel-agent" }, reason: reads pod metadata }' "$out/kiln.yaml"
