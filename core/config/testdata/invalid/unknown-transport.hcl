transport = "nope"

pipeline "p" {
  source "xsub" "in" {}
  stage "hello" "h" {}
  sink "xpub" "out" {}
}
