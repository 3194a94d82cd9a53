# A central XPUB/XSUB broker for Zeek's ZeroMQ cluster backend.
transport = "cgo"

variable "listen_xsub_endpoint" {
  description = "Where Zeek nodes' XPUB sockets connect (Zeek's listen_xsub_endpoint)."
  type        = string
  default     = "tcp://127.0.0.1:5556"
}

variable "listen_xpub_endpoint" {
  description = "Where Zeek nodes' XSUB sockets connect (Zeek's listen_xpub_endpoint)."
  default     = "tcp://127.0.0.1:5555"
}

variable "metrics_listen" {
  default = "127.0.0.1:9911"
}

variable "hwm" {
  type    = number
  default = 1000
}

variable "topics" {
  type    = list(string)
  default = ["zeek.cluster."]
}

telemetry {
  service_name        = "zpipe-broker"
  resource_attributes = { "deployment.environment" = "lab" }
  zeek_node           = "manager"

  prometheus {
    listen = var.metrics_listen
  }

  otlp {
    endpoint = "127.0.0.1:4317"
    protocol = "http"
    insecure = true
    headers  = { authorization = "Bearer x" }
    interval = "15s"
    timeout  = "5s"
  }
}

pipeline "zeek-broker" {
  passthrough = false

  source "xsub" "nodes_pub" {
    bind   = [var.listen_xsub_endpoint]
    rcvhwm = var.hwm
  }

  stage "filter" "only_events" {
    from     = [source.xsub.nodes_pub]
    prefixes = var.topics
  }

  sink "xpub" "nodes_sub" {
    bind     = [var.listen_xpub_endpoint]
    sndhwm   = var.hwm
    verboser = true
  }
}
