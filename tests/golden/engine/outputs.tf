output "endpoint" {
  description = "advisor-engine's ksqlDB-compatible REST API inside the VPC (Cloud Map name)"
  value       = "http://engine.${module.discovery.namespace_name}:8088"
}

output "cluster_arn" {
  description = "ECS cluster the services run in."
  value       = local.cluster_arn
}

output "log_group" {
  description = "CloudWatch Logs group of every container."
  value       = aws_cloudwatch_log_group.this.name
}

output "ecr_repository_url" {
  description = "ECR repository of the engine's image (advisor image push --repository)."
  value       = aws_ecr_repository.engine.repository_url
}

output "checkpoint_bucket" {
  description = "Versioned S3 bucket for checkpoints and savepoints."
  value       = module.checkpoints.bucket
}

output "service_engine_name" {
  description = "ECS service engine."
  value       = module.service_engine.service_name
}
