pipeline "p" {
  source "pull" "in" {}
  sink "push" "out" {
    enabled = "maybe"
  }
  sink "push" "off" {
    enabled  = false
    lingr_ms = 5
  }
}
