output "endpoint" {
  description = "Flink web UI and REST API inside the VPC (Cloud Map name)"
  value       = "http://jobmanager.${module.discovery.namespace_name}:8081"
}

output "cluster_arn" {
  description = "ECS cluster the services run in."
  value       = local.cluster_arn
}

output "log_group" {
  description = "CloudWatch Logs group of every container."
  value       = aws_cloudwatch_log_group.this.name
}

output "checkpoint_bucket" {
  description = "Versioned S3 bucket for checkpoints and savepoints."
  value       = module.checkpoints.bucket
}

output "service_jobmanager_name" {
  description = "ECS service jobmanager."
  value       = module.service_jobmanager.service_name
}

output "service_taskmanager_name" {
  description = "ECS service taskmanager."
  value       = module.service_taskmanager.service_name
}
