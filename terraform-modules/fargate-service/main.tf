locals {
  # Weights out of 100 between on-demand and Spot; a provider with no weight is left out.
  capacity_weights = {
    FARGATE      = floor((1 - var.spot_share) * 100 + 0.5)
    FARGATE_SPOT = floor(var.spot_share * 100 + 0.5)
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name      = var.container_name
      image     = var.image
      essential = true
      command   = length(var.command) > 0 ? var.command : null
      portMappings = [for mapping in var.port_mappings : {
        name          = mapping.name
        containerPort = mapping.port
        protocol      = "tcp"
      }]
      environment = [for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }]
      secrets     = [for key in sort(keys(var.secrets)) : { name = key, valueFrom = var.secrets[key] }]
      healthCheck = var.health_check
      # ECS Exec needs the SSM agent's writable paths; the engines write state to local disk.
      readonlyRootFilesystem = false
      linuxParameters = {
        initProcessEnabled = var.enable_execute_command
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = var.log_group_name
          "awslogs-region"        = var.region
          "awslogs-stream-prefix" = var.container_name
        }
      }
    }
  ])

  tags = var.tags
}

# Two forms of the service, one of them counted in: Terraform cannot make `ignore_changes`
# conditional, and an autoscaled service must keep the count its autoscaler chose.
resource "aws_ecs_service" "this" {
  count = var.autoscaling == null ? 1 : 0

  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  platform_version       = "LATEST"
  enable_execute_command = var.enable_execute_command
  propagate_tags         = "SERVICE"
  wait_for_steady_state  = false

  dynamic "capacity_provider_strategy" {
    for_each = { for provider, weight in local.capacity_weights : provider => weight if weight > 0 }
    content {
      capacity_provider = capacity_provider_strategy.key
      weight            = capacity_provider_strategy.value
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "service_registries" {
    for_each = var.service_registry_arn == null ? [] : [var.service_registry_arn]
    content {
      registry_arn = service_registries.value
    }
  }

  tags = var.tags
}

resource "aws_ecs_service" "autoscaled" {
  count = var.autoscaling == null ? 0 : 1

  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  platform_version       = "LATEST"
  enable_execute_command = var.enable_execute_command
  propagate_tags         = "SERVICE"
  wait_for_steady_state  = false

  dynamic "capacity_provider_strategy" {
    for_each = { for provider, weight in local.capacity_weights : provider => weight if weight > 0 }
    content {
      capacity_provider = capacity_provider_strategy.key
      weight            = capacity_provider_strategy.value
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "service_registries" {
    for_each = var.service_registry_arn == null ? [] : [var.service_registry_arn]
    content {
      registry_arn = service_registries.value
    }
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [desired_count]
  }
}

locals {
  service_name = one(concat(aws_ecs_service.this[*].name, aws_ecs_service.autoscaled[*].name))
  cluster_name = element(split("/", var.cluster_arn), 1)
}

resource "aws_appautoscaling_target" "this" {
  count = var.autoscaling == null ? 0 : 1

  service_namespace  = "ecs"
  resource_id        = "service/${local.cluster_name}/${local.service_name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.autoscaling.min_count
  max_capacity       = var.autoscaling.max_count
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  count = var.autoscaling == null ? 0 : 1

  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
    target_value       = var.autoscaling.target_cpu_percent
    scale_out_cooldown = var.autoscaling.scale_out_cooldown
    scale_in_cooldown  = var.autoscaling.scale_in_cooldown
  }
}
