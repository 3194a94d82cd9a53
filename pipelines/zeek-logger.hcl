# zeek-logger: a logger node for Zeek's ZeroMQ cluster backend that is not
# Zeek. Zeek nodes PUSH their log batches (zeek-bin-serializer) to the
# logger's PULL endpoint; zpipe decodes them and writes one file per log
# path in log_dir, in Zeek's own ASCII (TSV) or JSON format, byte for byte
# as Zeek's logger writes them. No stream definitions are needed: every
# batch carries its own header.
#
# In the cluster layout, give the logger entry the address and port of
# listen_log_endpoint; Zeek's other nodes connect their PUSH sockets there.
#
#   zpipe run --var log_dir=/var/log/zeek pipelines/zeek-logger.hcl

transport = "cgo"

variable "listen_log_endpoint" {
  description = "Endpoint the nodes' PUSH sockets connect to (Zeek: listen_log_endpoint of the logger)."
  default     = "tcp://127.0.0.1:5557"
}

variable "log_dir" {
  description = "Directory of the log files."
  default     = "logs"
}

variable "log_format" {
  description = "tsv (Zeek's ASCII writer) or json (LogAscii::use_json = T)."
  default     = "tsv"
}

variable "rotate_interval" {
  description = "Rotate every log file after this long (Log::default_rotation_interval); 0s never."
  default     = "0s"
}

variable "rotate_size" {
  description = "Rotate a log file once it holds this many bytes; 0 never."
  type        = number
  default     = 0
}

variable "max_open_files" {
  description = "Log files kept open at once; the least recently written is closed and reopened when needed."
  type        = number
  default     = 256
}

variable "max_paths" {
  description = "Log paths with an active file at once; batches for further paths are dropped and counted (too_many_paths)."
  type        = number
  default     = 2000
}

variable "log_rcvhwm" {
  description = "Receive high-water mark of the PULL socket (Zeek: log_rcvhwm)."
  type        = number
  default     = 1000
}

variable "metrics_listen" {
  description = "host:port of the Prometheus endpoint (/metrics)."
  default     = "127.0.0.1:9912"
}

variable "zeek_node" {
  description = "Value of the node label on Zeek-named metrics."
  default     = "zpipe-logger"
}

telemetry {
  service_name = "zpipe-logger"
  zeek_node    = var.zeek_node

  prometheus {
    listen = var.metrics_listen
  }
}

pipeline "zeek-logger" {
  # Nodes' PUSH sockets connect here; the PULL fair-queues between them.
  source "pull" "nodes" {
    bind    = [var.listen_log_endpoint]
    rcvhwm  = var.log_rcvhwm
    framing = "zeek"
  }

  # Zeek's onloop queue: events sent here by mistake are dropped once it
  # holds 10000 messages. Log batches pass that limit but not max_bytes:
  # there they wait for room, so that the PULL socket stops reading and
  # its rcvhwm pushes back on the nodes (whose sends then fail, counted by
  # Zeek, as with its own logger). This bounds the logger's memory, and
  # the backlog a SIGTERM has to write.
  stage "onloop" "queue" {
    hwm       = 10000
    max_bytes = 67108864 # 64 MiB
    when_full = "block"
  }

  sink "file" "logs" {
    dir             = var.log_dir
    format          = var.log_format
    rotate_interval = var.rotate_interval
    rotate_size     = var.rotate_size
    max_open_files  = var.max_open_files
    max_paths       = var.max_paths
  }
}
