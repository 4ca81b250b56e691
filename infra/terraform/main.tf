# Names and values shared by the other files, and the settings file the pipeline reads.

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  account_id = data.aws_caller_identity.current.account_id

  # The pipeline's three S3 zones, keyed by role. Bucket names are global: prefix + role + account id.
  buckets = {
    raw      = "${var.name_prefix}-raw-${local.account_id}"
    final    = "${var.name_prefix}-final-${local.account_id}"
    realtime = "${var.name_prefix}-realtime-${local.account_id}"
  }

  # S3 Tables' Iceberg REST endpoint; requests are SigV4-signed for the service "s3tables".
  catalog_uri          = "https://s3tables.${var.region}.amazonaws.com/iceberg"
  catalog_signing_name = "s3tables"

  # The aws profile's settings (SANDBOX_*), as `.env` lines. Secrets stay out: the RDS master
  # password lives in Secrets Manager, the application roles' passwords are yours to generate.
  env_file = <<-EOT
    # Written by infra/terraform (terraform output -raw env_file). No secrets in here.
    SANDBOX_PROFILE=aws
    SANDBOX_AWS__REGION=${var.region}
    SANDBOX_POSTGRES__HOST=${aws_db_instance.source.address}
    SANDBOX_POSTGRES__PORT=${aws_db_instance.source.port}
    SANDBOX_POSTGRES__ADMIN_USER=${aws_db_instance.source.username}
    # SANDBOX_POSTGRES__ADMIN_PASSWORD: in Secrets Manager, ${aws_db_instance.source.master_user_secret[0].secret_arn}
    SANDBOX_S3__RAW_BUCKET=${aws_s3_bucket.zone["raw"].id}
    SANDBOX_S3__FINAL_BUCKET=${aws_s3_bucket.zone["final"].id}
    SANDBOX_S3__REALTIME_BUCKET=${aws_s3_bucket.zone["realtime"].id}
    SANDBOX_CATALOG__URI=${local.catalog_uri}
    SANDBOX_CATALOG__WAREHOUSE=${aws_s3tables_table_bucket.lake.arn}
    SANDBOX_CATALOG__SIGNING_NAME=${local.catalog_signing_name}
    SANDBOX_KINESIS__STREAM=${aws_kinesis_stream.clickstream.name}
    SANDBOX_KINESIS__SHARDS=${aws_kinesis_stream.clickstream.shard_count}
    SANDBOX_PREFECT__API_URL=${var.prefect_api_url}
  EOT
}
