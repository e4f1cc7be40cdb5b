output "namespace_name" {
  description = "The namespace's DNS name."
  value       = aws_service_discovery_private_dns_namespace.this.name
}

output "service_arns" {
  description = "Cloud Map service ARN by name, for the ECS services' registries."
  value       = { for name, service in aws_service_discovery_service.this : name => service.arn }
}
