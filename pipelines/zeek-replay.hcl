# zeek-replay: replays a recording into a Zeek logger (zpipe's or Zeek's).
# Record the log batches a cluster sends with the logger role writing raw
# files, e.g.
#
#   zpipe run --var log_format=raw --var log_dir=rec pipelines/zeek-logger.hcl
#
# (every message lands in rec/logs.zpmsg, frame for frame), then push them
# again, as the nodes did, to any logger's PULL endpoint:
#
#   zpipe run --var file=rec/logs.zpmsg --var connect_log_endpoint=tcp://127.0.0.1:5557 \
#     pipelines/zeek-replay.hcl
#
# zpipe exits once the whole file was handed to the PUSH socket and the
# socket's linger let it leave (linger_ms).

transport = "cgo"

variable "file" {
  description = "The message file to replay (written by a file sink with format = \"raw\")."
}

variable "connect_log_endpoint" {
  description = "The logger's PULL endpoint (Zeek: the logger's listen_log_endpoint)."
  default     = "tcp://127.0.0.1:5557"
}

variable "rate" {
  description = "Messages per second; 0 as fast as the logger takes them."
  type        = number
  default     = 0
}

variable "linger_ms" {
  description = "How long zpipe waits at exit for the last messages to leave (-1: until they have, even with no logger there)."
  type        = number
  default     = 5000
}

pipeline "zeek-replay" {
  source "file" "recording" {
    path = var.file
    rate = var.rate
  }

  sink "push" "logger" {
    connect   = [var.connect_log_endpoint]
    linger_ms = var.linger_ms
  }
}
