# The Iceberg catalog: an S3 Tables table bucket, reached through S3 Tables' Iceberg REST
# endpoint (SANDBOX_CATALOG__URI, signing name s3tables) with the bucket's ARN as the warehouse.
# The namespaces the lakehouse writes to are created here; Spark and pyiceberg create the tables.

resource "aws_s3tables_table_bucket" "lake" {
  name          = "${var.name_prefix}-lake"
  force_destroy = var.force_destroy

  # Declared explicitly: left out, some provider versions report an inconsistent result after apply.
  encryption_configuration = {
    sse_algorithm = "AES256"
    kms_key_arn   = null
  }
}

resource "aws_s3tables_namespace" "lake" {
  for_each = toset(var.iceberg_namespaces)

  namespace        = each.value
  table_bucket_arn = aws_s3tables_table_bucket.lake.arn
}
