pipeline "p" {
  source "xsub" "in" {
    bind     = ["tcp://127.0.0.1:5556"]
    lingr_ms = 10
  }
  sink "xpub" "out" {}
}
