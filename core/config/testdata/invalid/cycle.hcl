pipeline "p" {
  source "xsub" "in" {}
  stage "queue" "a" {
    from = [source.xsub.in, stage.queue.c]
  }
  stage "queue" "b" {
    from = [stage.queue.a]
  }
  stage "queue" "c" {
    from = [stage.queue.b]
  }
  stage "hello" "self" {
    from = [stage.hello.self]
  }
  sink "xpub" "out" {
    from = [stage.queue.c, stage.hello.self]
  }
}
