pipeline "p" {
  source "xsub" "in" {
    rcvhwm = "lots"
  }
  sink "xpub" "out" {
    verboser = [true]
  }
}
