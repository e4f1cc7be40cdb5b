variable "namespace" {
  description = "Private DNS namespace, e.g. advisor-flink.internal."
  type        = string
}

variable "vpc_id" {
  description = "VPC the namespace resolves in."
  type        = string
}

variable "service_names" {
  description = "Names to register; each resolves as NAME.NAMESPACE."
  type        = set(string)
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
