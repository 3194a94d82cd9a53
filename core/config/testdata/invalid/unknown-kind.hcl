pipeline "p" {
  source "xsubb" "in" {}
  stage "fitler" "f" {}
  sink "xsub" "out" {}
}
