# zeek-to-otel: bridges the events of a Zeek cluster (ZeroMQ backend) into
# an OpenTelemetry collector as OTLP log records: the event name as the
# record's EventName, the decoded arguments as its body, the topic, sender
# and format as attributes, Zeek's network timestamp as its time.
#
# zpipe joins the cluster invisibly: its XSUB connects to the broker's XPUB
# and subscribes to var.topics only, never to a node-id topic, so the Zeek
# nodes neither see it nor log hello warnings. It publishes nothing, so it
# needs no connection to the broker's XSUB.
#
#   zpipe run --var 'topics=["zeek/event/"]' --var otlp_endpoint=collector:4317 pipelines/zeek-to-otel.hcl

transport = "cgo"

variable "connect_xsub_endpoint" {
  description = "The broker's XPUB, where zpipe's XSUB connects (Zeek: connect_xsub_endpoint)."
  default     = "tcp://127.0.0.1:5555"
}

variable "topics" {
  description = "Topic prefixes to bridge; \"\" is every event of the cluster."
  type        = list(string)
  default     = [""]
}

variable "otlp_endpoint" {
  description = "The collector: host:port for OTLP/gRPC, http(s)://host:port for OTLP/HTTP."
  default     = "127.0.0.1:4317"
}

variable "otlp_protocol" {
  description = "grpc or http."
  default     = "grpc"
}

variable "otlp_insecure" {
  description = "Plain-text gRPC (no TLS)."
  type        = bool
  default     = true
}

variable "otlp_headers" {
  description = "Headers for every export, e.g. { authorization = \"Bearer …\" }. Give them with --var-file otlp_headers=PATH or $ZPIPE_VAR_otlp_headers, not --var."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "otlp_metrics" {
  description = "Also push zpipe's own metrics (drops above all) to the collector, every 10 s. false for a collector without a metrics pipeline."
  type        = bool
  default     = true
}

variable "metrics_listen" {
  description = "host:port of zpipe's own Prometheus endpoint (/metrics)."
  default     = "127.0.0.1:9914"
}

telemetry {
  service_name = "zpipe-zeek-to-otel"

  prometheus {
    listen = var.metrics_listen
  }

  otlp {
    enabled  = var.otlp_metrics
    endpoint = var.otlp_endpoint
    protocol = var.otlp_protocol
    insecure = var.otlp_insecure
    headers  = var.otlp_headers
  }
}

pipeline "zeek-to-otel" {
  source "xsub" "cluster" {
    connect = [var.connect_xsub_endpoint]
    framing = "zeek"
  }

  stage "subscribe" "topics" {
    topics = var.topics
  }

  # Zeek's onloop queue in front of the exporter: a burst beyond 10000
  # events is dropped and counted rather than held without bound.
  stage "onloop" "queue" {
    hwm = 10000
  }

  sink "otlp" "collector" {
    endpoint = var.otlp_endpoint
    protocol = var.otlp_protocol
    insecure = var.otlp_insecure
    headers  = var.otlp_headers
  }
}
