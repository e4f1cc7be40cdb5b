variable "name" {
  description = "Name of the ECS service and task definition family."
  type        = string
}

variable "container_name" {
  description = "Name of the container in the task definition."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "image" {
  description = "Container image."
  type        = string
}

variable "cpu" {
  description = "Fargate CPU units (1024 = 1 vCPU)."
  type        = number
}

variable "memory" {
  description = "Fargate memory in MiB; must be a size Fargate offers for the CPU."
  type        = number
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "The cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  description = "Number of tasks to run."
  type        = number
}

variable "autoscaling" {
  description = "Target tracking of the task count on average CPU, or null for a fixed desired_count (then the starting count)."
  type = object({
    min_count          = number
    max_count          = number
    target_cpu_percent = number
    scale_out_cooldown = number
    scale_in_cooldown  = number
  })
  default = null

  validation {
    condition     = var.autoscaling == null ? true : (var.autoscaling.min_count >= 1 && var.autoscaling.max_count >= var.autoscaling.min_count)
    error_message = "The autoscaling bounds need 1 <= min_count <= max_count."
  }
}

variable "command" {
  description = "Container command; empty keeps the image's own."
  type        = list(string)
  default     = []
}

variable "port_mappings" {
  description = "Container ports to map."
  type = list(object({
    name = string
    port = number
  }))
  default = []
}

variable "environment" {
  description = "Environment variables of the container."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variables read from Secrets Manager: name to valueFrom ARN."
  type        = map(string)
  default     = {}
}

variable "health_check" {
  description = "Container health check in ECS's form, or null for none."
  type = object({
    command     = list(string)
    interval    = number
    timeout     = number
    retries     = number
    startPeriod = number
  })
  default = null
}

variable "execution_role_arn" {
  description = "Role ECS uses to pull the image, write logs and read secrets."
  type        = string
}

variable "task_role_arn" {
  description = "Role the container runs with."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch Logs group for the container's output."
  type        = string
}

variable "region" {
  description = "Region of the log group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the tasks."
  type        = list(string)
}

variable "service_registry_arn" {
  description = "Cloud Map service to register the tasks in, or null."
  type        = string
  default     = null
}

variable "spot_share" {
  description = "Share of tasks on Fargate Spot, 0 to 1."
  type        = number
  default     = 0

  validation {
    condition     = var.spot_share >= 0 && var.spot_share <= 1
    error_message = "The spot_share must be between 0 and 1."
  }
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the containers."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
