pipeline "p" {
  source "xsub" "in" {
    reconnect_interval = "10 parsecs"
  }
  stage "queue" "q" {
    flush = "1h"
  }
  sink "xpub" "out" {}
}
