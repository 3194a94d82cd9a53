pipeline "p" {
  source "xsub" "in" {}
  stage "filter" "events" {
  }
  stage "filter" "null_prefixes" {
    prefixes = null
  }
  sink "xpub" "out" {}
}
