pipeline "chain" {
  source "xsub" "pub" {
    bind = ["tcp://127.0.0.1:5556"]
  }
  sink "xpub" "sub" {
    bind = ["tcp://127.0.0.1:5555"]
  }
  stage "queue" "buffer" {
    capacity = 500
  }
  source "pull" "logs" {
    bind = ["ipc:///tmp/zpipe-logs"]
  }
  stage "hello" "tracker" {}
  sink "push" "archive" {
    connect = ["tcp://127.0.0.1:6000"]
  }
}

pipeline "direct" {
  source "pull" "in_a" {}
  source "pull" "in_b" {}
  sink "push" "out" {}
}
