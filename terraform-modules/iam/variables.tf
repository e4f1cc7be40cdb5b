variable "name" {
  description = "Stack name; the roles are NAME-execution and NAME-task."
  type        = string
}

variable "checkpoint_bucket_arn" {
  description = "Checkpoint bucket the task role may read and write, or null."
  type        = string
  default     = null
}

variable "kafka_secret_arn" {
  description = "Secrets Manager secret with the Kafka SASL credentials, or null."
  type        = string
  default     = null
}

variable "msk_cluster_arn" {
  description = "MSK cluster the task role may use through IAM auth, or null."
  type        = string
  default     = null
}

variable "enable_execute_command" {
  description = "Grant the task role what ECS Exec needs."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
