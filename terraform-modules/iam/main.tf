data "aws_partition" "current" {}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role is ECS's own: it pulls images, writes logs and reads secrets.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "kafka_secret" {
  count = var.kafka_secret_arn == null ? 0 : 1

  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.kafka_secret_arn]
  }
}

resource "aws_iam_role_policy" "kafka_secret" {
  count = var.kafka_secret_arn == null ? 0 : 1

  name   = "read-kafka-secret"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.kafka_secret[0].json
}

# The task role is the containers': only what the engine itself touches.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "checkpoints" {
  count = var.checkpoint_bucket_arn == null ? 0 : 1

  statement {
    sid       = "ListCheckpoints"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.checkpoint_bucket_arn]
  }

  statement {
    sid       = "ReadWriteCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.checkpoint_bucket_arn}/*"]
  }

  statement {
    sid       = "EncryptCheckpoints"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["arn:${data.aws_partition.current.partition}:kms:*:*:key/*"]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["s3.*.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "checkpoints" {
  count = var.checkpoint_bucket_arn == null ? 0 : 1

  name   = "checkpoints"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.checkpoints[0].json
}

data "aws_iam_policy_document" "msk" {
  count = var.msk_cluster_arn == null ? 0 : 1

  statement {
    sid       = "ConnectToCluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.msk_cluster_arn]
  }

  statement {
    sid = "UseTopics"
    actions = [
      "kafka-cluster:CreateTopic",
      "kafka-cluster:DescribeTopic",
      "kafka-cluster:ReadData",
      "kafka-cluster:WriteData",
    ]
    resources = ["${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/*"]
  }

  statement {
    sid       = "UseConsumerGroups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = ["${replace(var.msk_cluster_arn, ":cluster/", ":group/")}/*"]
  }
}

resource "aws_iam_role_policy" "msk" {
  count = var.msk_cluster_arn == null ? 0 : 1

  name   = "msk-iam-auth"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.msk[0].json
}

data "aws_iam_policy_document" "execute_command" {
  count = var.enable_execute_command ? 1 : 0

  statement {
    #checkov:skip=CKV_AWS_111:ssmmessages channels have no resource ARNs; AWS documents Resource "*" for ECS Exec.
    #checkov:skip=CKV_AWS_356:ssmmessages channels have no resource ARNs; AWS documents Resource "*" for ECS Exec.
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "execute_command" {
  count = var.enable_execute_command ? 1 : 0

  name   = "ecs-exec"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.execute_command[0].json
}
