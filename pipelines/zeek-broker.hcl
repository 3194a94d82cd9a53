# zeek-broker: a drop-in replacement for the central XPUB/XSUB broker that
# Zeek's ZeroMQ cluster backend runs inside the manager ("proxy thread").
#
# Zeek nodes connect their XPUB sockets to the XSUB endpoint and their XSUB
# sockets to the XPUB endpoint. Events flow XSUB -> XPUB untouched (payloads
# are never decoded); subscriptions flow back XPUB -> XSUB, so every node
# sees every other node's subscriptions, which is how Zeek nodes find each
# other. Run the Zeek manager with
#
#   redef Cluster::Backend::ZeroMQ::run_proxy_thread = F;
#
# and point the nodes' connect_xpub_endpoint / connect_xsub_endpoint here.

transport = "cgo"

variable "listen_xsub_endpoint" {
  description = "Endpoint the nodes' XPUB sockets connect to (Zeek: listen_xsub_endpoint)."
  default     = "tcp://127.0.0.1:5556"
}

variable "listen_xpub_endpoint" {
  description = "Endpoint the nodes' XSUB sockets connect to (Zeek: listen_xpub_endpoint)."
  default     = "tcp://127.0.0.1:5555"
}

variable "metrics_listen" {
  description = "host:port of the Prometheus endpoint (/metrics)."
  default     = "127.0.0.1:9911"
}

variable "io_threads" {
  description = "ZeroMQ I/O threads of the broker's context (Zeek: proxy_io_threads)."
  type        = number
  default     = 2
}

variable "ipv6" {
  description = "Enable IPv6 on the broker's sockets (Zeek: ipv6)."
  type        = bool
  default     = false
}

variable "xpub_nodrop" {
  description = "XPUB_NODROP on the subscriber side (Zeek: listen_xpub_nodrop)."
  type        = bool
  default     = true
}

variable "slow_subscriber_timeout_ms" {
  description = <<-EOT
    How long the broker waits for a subscriber whose queue is full before it
    drops the message and counts it in zeek_cluster_zeromq_xpub_drops_total.
    -1 waits forever, as Zeek's own proxy does (one stopped node then stalls
    the whole cluster); 0 never waits.
  EOT
  type        = number
  default     = 1000
}

variable "passthrough" {
  description = "Forward inside the transport process (fast). false routes every message through zpipe's core, for stages or comparison."
  type        = bool
  default     = true
}

variable "curve_server_secretkey" {
  description = "Z85 CURVE server secret key (Zeek: curve_server_secretkey). When set, both sockets are CURVE servers. Give it with --var-file curve_server_secretkey=PATH or $ZPIPE_VAR_curve_server_secretkey, not --var, which every local user can read in the process list."
  default     = ""
  sensitive   = true
}

variable "curve_client_publickey" {
  description = "Z85 CURVE public key of the cluster's clients (Zeek: curve_client_publickey): the only key allowed to connect. Empty accepts any key."
  default     = ""
}

variable "track_members" {
  description = "Follow the cluster's membership (hello_tracker in observe mode): node up/down in the log and the zpipe_cluster_nodes gauge. Routes every event through zpipe's core, at about 0.6x the in-transport throughput."
  type        = bool
  default     = false
}

variable "zeek_node" {
  description = "Value of the node label on Zeek-named metrics (Zeek labels them with Cluster::node)."
  default     = "zpipe-broker"
}

telemetry {
  service_name = "zpipe-broker"
  zeek_node    = var.zeek_node

  prometheus {
    listen = var.metrics_listen
  }
}

pipeline "zeek-broker" {
  passthrough = var.passthrough

  # Nodes' XPUB sockets connect here and publish 4-frame events.
  source "xsub" "publishers" {
    bind       = [var.listen_xsub_endpoint]
    io_threads = var.io_threads
    ipv6       = var.ipv6
    framing    = "zeek"

    curve_server          = var.curve_server_secretkey != ""
    curve_secretkey       = var.curve_server_secretkey
    curve_allowed_clients = var.curve_client_publickey == "" ? [] : [var.curve_client_publickey]
  }

  # Optional: watch node-id subscriptions and hellos as they pass.
  stage "hello_tracker" "members" {
    enabled    = var.track_members
    mode       = "observe"
    expiration = "10s"
  }

  # Nodes' XSUB sockets connect here, subscribe, and receive events.
  sink "xpub" "subscribers" {
    bind            = [var.listen_xpub_endpoint]
    io_threads      = var.io_threads
    ipv6            = var.ipv6
    verboser        = true
    nodrop          = var.xpub_nodrop
    send_timeout_ms = var.slow_subscriber_timeout_ms

    curve_server          = var.curve_server_secretkey != ""
    curve_secretkey       = var.curve_server_secretkey
    curve_allowed_clients = var.curve_client_publickey == "" ? [] : [var.curve_client_publickey]
  }
}
