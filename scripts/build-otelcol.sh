#!/usr/bin/env bash
# Builds the OpenTelemetry Collector of test/otel/builder.yaml with the
# collector's builder (ocb), both from the Go module proxy, into
# .cache/otelcol/. Does nothing when the binary is newer than the builder
# configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

OCB_VERSION=v0.161.0 # keep in step with the modules in test/otel/builder.yaml
out=.cache/otelcol
bin=$out/dist/otelcol-zpipe
if [ -x "$bin" ] && [ "$bin" -nt test/otel/builder.yaml ]; then
  echo "otelcol: $bin is up to date"
  exit 0
fi
mkdir -p "$out/bin"
echo "otelcol: installing the builder (ocb) $OCB_VERSION"
GOBIN="$PWD/$out/bin" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
echo "otelcol: building the collector (a few minutes the first time)"
# The configuration with the output directory filled in.
sed "s|^dist:|dist:\n  output_path: $PWD/$out/dist|" test/otel/builder.yaml >"$out/builder.yaml"
"$out/bin/builder" --config "$out/builder.yaml" >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  exit 1
}
echo "otelcol: $bin"
