transport = "purego"

variable "endpoint" {
  default = "tcp://127.0.0.1:7000"
}

pipeline "first" {
  source "pull" "in" {
    bind = [var.endpoint]
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7001"]
  }
}
