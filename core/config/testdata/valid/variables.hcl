variable "name" {
  type = string
}

variable "hwm" {
  type    = number
  default = 1000
}

variable "endpoints" {
  type    = list(string)
  default = ["tcp://127.0.0.1:5000"]
}

variable "verbose" {
  type    = bool
  default = false
}

variable "labels" {
  type    = map(string)
  default = { site = "default" }
}

telemetry {
  service_name        = var.name
  resource_attributes = var.labels
}

pipeline "vars" {
  source "pull" "in" {
    bind = var.endpoints
  }
  sink "xpub" "out" {
    bind     = ["tcp://127.0.0.1:5001"]
    sndhwm   = var.hwm
    verboser = var.verbose
  }
}
