pipeline "zeek-broker" {
  source "xsub" "nodes_pub" {}
  stage "filter" "only_events" {}
  sink "xpub" "nodes_sub" {}
}
