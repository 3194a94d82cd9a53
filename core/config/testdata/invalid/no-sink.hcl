pipeline "only_sources" {
  source "xsub" "in" {}
}

pipeline "only_sinks" {
  sink "xpub" "out" {}
}
