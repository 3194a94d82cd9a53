variable "endpoint" {
  description = "No default: must be given."
}

pipeline "p" {
  source "xsub" "in" {
    bind = [var.endpoint]
  }
  sink "xpub" "out" {}
}
