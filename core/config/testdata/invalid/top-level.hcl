transport = ""
pipelines "p" {}
pipeline "bad name!" {
  passthrough = "sometimes"
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
