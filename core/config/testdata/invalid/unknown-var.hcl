variable "endpoint" {
  default = "tcp://127.0.0.1:5556"
}

pipeline "p" {
  source "xsub" "in" {
    bind = [var.endpoint, var.endpiont]
  }
  sink "xpub" "out" {}
}
