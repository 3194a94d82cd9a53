# zeek-participant: zpipe as a node of a Zeek cluster on the ZeroMQ backend.
# It connects to the cluster's broker like any Zeek node, takes part in the
# hello handshake under its own name and node id — the Zeek nodes log
# Cluster::node_up for it, and no expiry warnings — subscribes to the topics
# it is given, and writes every event it receives as a JSON line.
#
# Zeek nodes only raise Cluster::node_up for names in their Cluster::nodes:
# add node_name to the cluster layout (e.g. as a worker without an
# interface) for them to. Other nodes can then publish to it by name, on
# zeek.cluster.node.<node_name>.
#
#   zpipe run --var node_name=zpipe-1 --var 'topics=["zeek/event/"]' pipelines/zeek-participant.hcl

transport = "cgo"

variable "connect_xsub_endpoint" {
  description = "The broker's XPUB, where this node's XSUB connects (Zeek: connect_xsub_endpoint)."
  default     = "tcp://127.0.0.1:5555"
}

variable "connect_xpub_endpoint" {
  description = "The broker's XSUB, where this node's XPUB connects (Zeek: connect_xpub_endpoint)."
  default     = "tcp://127.0.0.1:5556"
}

variable "node_name" {
  description = "This node's name (Cluster::node), the first argument of its hellos."
  default     = "zpipe"
}

variable "node_id" {
  description = "This node's id; empty generates one shaped like Zeek's."
  default     = ""
}

variable "topics" {
  description = "Topic prefixes this node subscribes to, besides its node-id topic."
  type        = list(string)
  default     = ["zeek.cluster.node.zpipe."]
}

variable "cluster_hello" {
  description = "Send Cluster::hello to nodes that come up, so that they raise Cluster::node_up for this node. Needs node_name in their Cluster::nodes; otherwise each logs an error."
  type        = bool
  default     = true
}

variable "hello_expiration" {
  description = "How long half a handshake is kept before an expiry warning (Zeek: hello_expiration)."
  default     = "10s"
}

variable "out_dir" {
  description = "Directory of events.jsonl (received events) and membership.jsonl (nodes up and down)."
  default     = "zpipe-events"
}

variable "metrics_listen" {
  description = "host:port of the Prometheus endpoint (/metrics)."
  default     = "127.0.0.1:9913"
}

telemetry {
  service_name = "zpipe-participant"
  zeek_node    = var.node_name

  prometheus {
    listen = var.metrics_listen
  }
}

pipeline "zeek-participant" {
  # The XPUB hears every node's subscriptions from the broker; they are
  # for the hello tracker, not to be forwarded to this node's XSUB.
  forward_subscriptions = false

  source "xsub" "cluster" {
    connect = [var.connect_xsub_endpoint]
    framing = "zeek"
  }

  stage "subscribe" "topics" {
    topics = var.topics
  }

  # Subscribes to its node-id topic, answers the other nodes' node-id
  # subscriptions with ZeroMQ::hello, follows who is up. Its output gets
  # only its own hellos and membership events: what this node received
  # is not published back.
  stage "hello_tracker" "members" {
    mode             = "participate"
    name             = var.node_name
    node_id          = var.node_id
    expiration       = var.hello_expiration
    cluster_hello    = var.cluster_hello
    forward          = false
    membership_topic = "zpipe.membership"
  }

  # Keeps the membership events away from the cluster.
  stage "filter" "hellos" {
    exclude_topics = ["zpipe.membership"]
  }

  sink "xpub" "cluster" {
    from    = [stage.filter.hellos]
    connect = [var.connect_xpub_endpoint]
    verbose = true
  }

  sink "file" "events" {
    from   = [stage.subscribe.topics]
    dir    = var.out_dir
    format = "jsonl"
  }

  stage "filter" "membership" {
    from   = [stage.hello_tracker.members]
    topics = ["zpipe.membership"]
  }

  sink "file" "membership" {
    from   = [stage.filter.membership]
    dir    = var.out_dir
    format = "jsonl"
  }
}
