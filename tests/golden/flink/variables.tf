variable "region" {
  description = "AWS region of the stack; the log configuration follows it."
  type        = string
  default     = "eu-west-2"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "orders-stream"
}

variable "vpc_id" {
  description = "VPC the tasks run in."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR block of the VPC; clients inside it may reach the stack's API."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the tasks."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) > 0
    error_message = "Give at least one private subnet."
  }
}

variable "egress_cidr_blocks" {
  description = "Where the tasks may connect out to: Kafka and the AWS APIs."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "kafka_bootstrap_servers" {
  description = "Kafka bootstrap servers, host:port[,host:port...]."
  type        = string
}

variable "schema_registry_url" {
  description = "Schema Registry URL, or an empty string for none."
  type        = string
  default     = ""
}

variable "kafka_secret_arn" {
  description = "Secrets Manager secret with the Kafka SASL/SCRAM username, password and jaas_config."
  type        = string
}

variable "tags" {
  description = "Tags for every resource; advisor:stack finds the stack again."
  type        = map(string)
  default = {
    "advisor:flavor" = "flink"
    "advisor:stack"  = "orders-stream"
    cost-center      = "analytics"
    team             = "data-platform"
  }
}
