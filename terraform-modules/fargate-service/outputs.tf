output "service_name" {
  description = "Name of the ECS service."
  value       = local.service_name
}

output "task_definition_arn" {
  description = "ARN of the task definition revision the service runs."
  value       = aws_ecs_task_definition.this.arn
}
