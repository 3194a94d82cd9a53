variable "hwm" {
  type    = number
  default = "many"
}

variable "odd" {
  type = list
}

variable "flag" {
  type    = bool
  default = true
}

pipeline "p" {
  source "xsub" "in" {
    rcvhwm = var.hwm
  }
  sink "xpub" "out" {
    verboser = var.flag
  }
}
