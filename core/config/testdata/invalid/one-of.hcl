pipeline "p" {
  source "xsub" "in" {
    framing = "json"
  }
  stage "queue" "q" {
    policy = "drop_everything"
  }
  sink "xpub" "out" {
    framing = "raw"
  }
}
