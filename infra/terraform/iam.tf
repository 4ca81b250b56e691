# The worker's identity: an instance role with exactly what the pipeline does, on exactly its
# own resources. No wildcard actions; the one resource wildcard is kinesis:ListStreams, which
# AWS only authorizes on "*".

data "aws_iam_policy_document" "worker_assume" {
  statement {
    sid     = "Ec2AssumesTheWorkerRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name_prefix}-worker"
  description        = "Generator and Prefect worker of the pipeline sandbox"
  assume_role_policy = data.aws_iam_policy_document.worker_assume.json
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name_prefix}-worker"
  role = aws_iam_role.worker.name
}

# Session Manager (shell and port forwarding) instead of SSH: the AWS managed policy for the agent.
resource "aws_iam_role_policy_attachment" "worker_ssm" {
  role       = aws_iam_role.worker.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "worker" {
  # The raw, final and realtime zones: list the buckets, read and write their objects.
  statement {
    sid = "ListTheZoneBuckets"
    actions = [
      "s3:GetBucketLocation",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
    ]
    resources = [for bucket in aws_s3_bucket.zone : bucket.arn]
  }

  statement {
    sid = "ReadWriteTheZoneObjects"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:ListMultipartUploadParts",
      "s3:PutObject",
    ]
    resources = [for bucket in aws_s3_bucket.zone : "${bucket.arn}/*"]
  }

  # The clickstream stream: produce and consume (shard iterators, no enhanced fan-out).
  statement {
    sid = "ProduceAndConsumeTheClickstream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
      "kinesis:PutRecord",
      "kinesis:PutRecords",
    ]
    resources = [aws_kinesis_stream.clickstream.arn]
  }

  statement {
    sid       = "ListStreamsHasNoResourceLevelPermissions"
    actions   = ["kinesis:ListStreams"]
    resources = ["*"]
  }

  # The Iceberg catalog: S3 Tables' REST endpoint on the one table bucket and its tables.
  statement {
    sid = "UseTheTableBucket"
    actions = [
      "s3tables:CreateNamespace",
      "s3tables:CreateTable",
      "s3tables:DeleteTable",
      "s3tables:GetNamespace",
      "s3tables:GetTable",
      "s3tables:GetTableBucket",
      "s3tables:GetTableData",
      "s3tables:GetTableMetadataLocation",
      "s3tables:ListNamespaces",
      "s3tables:ListTables",
      "s3tables:PutTableData",
      "s3tables:RenameTable",
      "s3tables:UpdateTableMetadataLocation",
    ]
    resources = [
      aws_s3tables_table_bucket.lake.arn,
      "${aws_s3tables_table_bucket.lake.arn}/table/*",
    ]
  }

  # The RDS master password, for the one-time database bootstrap (infra/sql/rds_bootstrap.sql).
  statement {
    sid       = "ReadTheDatabaseMasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_db_instance.source.master_user_secret[0].secret_arn]
  }

  # The settings file Terraform renders (outputs env_file), fetched into the checkout as .env.
  statement {
    sid       = "ReadTheSettingsParameter"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.env_file.arn]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "${var.name_prefix}-pipeline"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}
