transport = "purego"

pipeline "p" {
  source "xsub" "in" {
    curve_server    = false
    curve_secretkey = ""
  }
  sink "xpub" "out" {
    curve_server = true
  }
}
