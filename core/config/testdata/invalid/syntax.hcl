pipeline "p" {
  source "xsub" "in" {
    bind = ["tcp://127.0.0.1:5556"
  }
}
