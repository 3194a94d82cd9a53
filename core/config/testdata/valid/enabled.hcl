variable "archive" {
  type    = bool
  default = false
}

pipeline "p" {
  source "pull" "in" {}
  stage "queue" "buffer" {
    enabled  = true
    capacity = 10
  }
  stage "hello" "tracker" {
    enabled = var.archive
  }
  sink "push" "out" {}
  sink "push" "archive" {
    enabled = var.archive
    connect = ["tcp://127.0.0.1:6000"]
  }
}
