# Two XSUB sources and a PULL source fan into stages; two XPUB sinks and a
# PUSH sink fan out. Subscriptions flow back only along paths that join an
# XPUB sink to an XSUB source.
pipeline "fan" {
  source "xsub" "east" {}
  source "xsub" "west" {}
  source "pull" "logs" {}

  stage "hello" "tracker" {
    from = [source.xsub.east, source.xsub.west]
  }
  stage "queue" "logs_buffer" {
    from = [source.pull.logs]
  }
  stage "queue" "mixed" {
    from = [stage.hello.tracker, stage.queue.logs_buffer]
  }

  sink "xpub" "nodes" {
    from = [stage.hello.tracker]
  }
  sink "xpub" "observers" {
    from = [stage.queue.mixed, source.xsub.west]
  }
  sink "push" "archive" {
    from = [stage.queue.mixed, stage.queue.logs_buffer]
  }
}

pipeline "logs" {
  source "pull" "in" {}
  sink "push" "out" {}
}
