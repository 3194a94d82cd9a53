variable "v" {
  default = "a"
}

variable "v" {
  default = "b"
}

pipeline "p" {
  source "xsub" "in" {}
  source "pull" "in" {}
  stage "hello" "h" {}
  stage "queue" "h" {}
  sink "xpub" "out" {}
  sink "xpub" "out" {}
}

pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
