# What the aws profile's .env needs, one output per setting, plus the whole file (env_file).

output "region" {
  description = "AWS region (SANDBOX_AWS__REGION)."
  value       = var.region
}

output "postgres_host" {
  description = "Source database endpoint address (SANDBOX_POSTGRES__HOST); resolvable and reachable from inside the VPC only."
  value       = aws_db_instance.source.address
}

output "postgres_port" {
  description = "Source database port (SANDBOX_POSTGRES__PORT)."
  value       = aws_db_instance.source.port
}

output "postgres_admin_user" {
  description = "RDS master user (SANDBOX_POSTGRES__ADMIN_USER)."
  value       = aws_db_instance.source.username
}

output "postgres_admin_secret_arn" {
  description = "Secrets Manager secret holding the RDS master password (JSON with username and password); RDS rotates it."
  value       = aws_db_instance.source.master_user_secret[0].secret_arn
}

output "raw_bucket" {
  description = "Raw zone bucket (SANDBOX_S3__RAW_BUCKET)."
  value       = aws_s3_bucket.zone["raw"].id
}

output "final_bucket" {
  description = "Final zone bucket (SANDBOX_S3__FINAL_BUCKET)."
  value       = aws_s3_bucket.zone["final"].id
}

output "realtime_bucket" {
  description = "Real-time zone bucket (SANDBOX_S3__REALTIME_BUCKET)."
  value       = aws_s3_bucket.zone["realtime"].id
}

output "kinesis_stream" {
  description = "Clickstream stream name (SANDBOX_KINESIS__STREAM)."
  value       = aws_kinesis_stream.clickstream.name
}

output "kinesis_shards" {
  description = "Shards of the clickstream stream (SANDBOX_KINESIS__SHARDS)."
  value       = aws_kinesis_stream.clickstream.shard_count
}

output "catalog_uri" {
  description = "Iceberg REST catalog endpoint of S3 Tables (SANDBOX_CATALOG__URI)."
  value       = local.catalog_uri
}

output "catalog_warehouse" {
  description = "Table bucket ARN, the catalog's warehouse (SANDBOX_CATALOG__WAREHOUSE)."
  value       = aws_s3tables_table_bucket.lake.arn
}

output "catalog_signing_name" {
  description = "SigV4 signing name of the catalog (SANDBOX_CATALOG__SIGNING_NAME)."
  value       = local.catalog_signing_name
}

output "worker_instance_id" {
  description = "The worker's instance id: aws ssm start-session --target <id>."
  value       = aws_instance.worker.id
}

output "env_parameter_name" {
  description = "SSM parameter holding env_file, for fetching it on the worker."
  value       = aws_ssm_parameter.env_file.name
}

output "env_file" {
  description = "The aws profile's settings as .env lines: terraform output -raw env_file > ../../.env"
  value       = local.env_file
}
