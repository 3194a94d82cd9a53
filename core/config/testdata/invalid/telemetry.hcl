telemetry {
  service_name = ""
  zeek_nodes   = "manager"

  prometheus {
    listen = "localhost"
    path   = "metrics"
  }

  prometheus {
    listen = ":9090"
  }

  otlp {
    protocol = "udp"
    interval = "soon"
    timeout  = "-1s"
  }
}

pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
