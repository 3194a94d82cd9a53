pipeline "p" {
  source "xsub" "nodes_pub" {
    from = [source.xsub.nodes_pub]
  }
  source "pull" "logs" {}
  stage "queue" "q" {
    from = [source.xsub.nodes_pbu, source.xsub.logs]
  }
  stage "hello" "h" {
    from = [sink.xpub.out, var.x, source.pull.logs, source.pull.logs]
  }
  sink "xpub" "out" {
    from = "everything"
  }
  sink "push" "archive" {
    from = []
  }
  sink "push" "single" {
    from = stage.hello.h
  }
}
