# The real-time path's stream: the clickstream producer writes it, Spark reads it into the
# Iceberg `realtime` namespace. Provisioned shards, encrypted with the AWS managed Kinesis key.

resource "aws_kinesis_stream" "clickstream" {
  name             = var.kinesis_stream_name
  shard_count      = var.kinesis_shard_count
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
}
