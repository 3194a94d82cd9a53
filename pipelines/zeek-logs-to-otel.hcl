# zeek-logs-to-otel: the logger role of a Zeek cluster (ZeroMQ backend),
# exporting every log record to an OpenTelemetry collector as an OTLP log
# record — EventName zeek.log.<path>, every field a typed attribute — beside
# Zeek's own log files (write_files = true) or instead of them.
#
# In the cluster layout, give the logger entry the address and port of
# listen_log_endpoint; Zeek's nodes PUSH their log batches there.
#
#   zpipe run --var otlp_endpoint=collector:4317 --var write_files=false pipelines/zeek-logs-to-otel.hcl

transport = "cgo"

variable "listen_log_endpoint" {
  description = "Endpoint the nodes' PUSH sockets connect to (Zeek: listen_log_endpoint of the logger)."
  default     = "tcp://127.0.0.1:5557"
}

variable "log_rcvhwm" {
  description = "Receive high-water mark of the PULL socket (Zeek: log_rcvhwm)."
  type        = number
  default     = 1000
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

variable "write_files" {
  description = "Also write Zeek's log files in log_dir, as pipelines/zeek-logger.hcl does."
  type        = bool
  default     = true
}

variable "log_dir" {
  description = "Directory of the log files (write_files = true)."
  default     = "logs"
}

variable "log_format" {
  description = "tsv (Zeek's ASCII writer) or json (LogAscii::use_json = T)."
  default     = "tsv"
}

variable "otlp_metrics" {
  description = "Also push zpipe's own metrics (drops above all) to the collector, every 10 s. false for a collector without a metrics pipeline."
  type        = bool
  default     = true
}

variable "metrics_listen" {
  description = "host:port of zpipe's own Prometheus endpoint (/metrics)."
  default     = "127.0.0.1:9915"
}

variable "zeek_node" {
  description = "Value of the node label on Zeek-named metrics."
  default     = "zpipe-logger"
}

telemetry {
  service_name = "zpipe-logs-to-otel"
  zeek_node    = var.zeek_node

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

pipeline "zeek-logs-to-otel" {
  source "pull" "nodes" {
    bind    = [var.listen_log_endpoint]
    rcvhwm  = var.log_rcvhwm
    framing = "zeek"
  }

  stage "onloop" "queue" {
    hwm = 10000
  }

  sink "otlp" "collector" {
    endpoint = var.otlp_endpoint
    protocol = var.otlp_protocol
    insecure = var.otlp_insecure
    headers  = var.otlp_headers
  }

  sink "file" "logs" {
    enabled = var.write_files
    dir     = var.log_dir
    format  = var.log_format
  }
}
