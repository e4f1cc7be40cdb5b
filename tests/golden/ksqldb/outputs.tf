output "endpoint" {
  description = "ksqlDB REST API inside the VPC (Cloud Map name)"
  value       = "http://ksqldb.${module.discovery.namespace_name}:8088"
}

output "cluster_arn" {
  description = "ECS cluster the services run in."
  value       = local.cluster_arn
}

output "log_group" {
  description = "CloudWatch Logs group of every container."
  value       = aws_cloudwatch_log_group.this.name
}

output "service_ksqldb_server_name" {
  description = "ECS service ksqldb-server."
  value       = module.service_ksqldb_server.service_name
}
