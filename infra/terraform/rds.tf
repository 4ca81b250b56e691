# The source database (the RDS role): PostgreSQL with logical replication on, for change data
# capture to the raw zone. Private subnets only, encrypted storage, TLS required, and the master
# password generated and kept by RDS in Secrets Manager (never in Terraform state).

resource "aws_db_subnet_group" "source" {
  name        = "${var.name_prefix}-source"
  description = "Private subnets of the source database"
  subnet_ids  = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "source" {
  name        = "${var.name_prefix}-source-pg${var.postgres_major_version}"
  family      = "postgres${var.postgres_major_version}"
  description = "Source database: logical replication for CDC"

  # wal_level = logical. Static: applied at the first boot, or on a reboot after a change.
  parameter {
    name         = "rds.logical_replication"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # The native engine and an optional Airbyte each hold a slot and a WAL sender (local: 10 and 10).
  parameter {
    name         = "max_replication_slots"
    value        = "10"
    apply_method = "pending-reboot"
  }

  parameter {
    name         = "max_wal_senders"
    value        = "10"
    apply_method = "pending-reboot"
  }

  # An abandoned slot cannot fill the disk: past this much retained WAL the slot is invalidated.
  parameter {
    name         = "max_slot_wal_keep_size"
    value        = tostring(var.db_max_slot_wal_keep_size_mb)
    apply_method = "immediate"
  }

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "immediate"
  }
}

resource "aws_db_instance" "source" {
  identifier     = "${var.name_prefix}-source"
  engine         = "postgres"
  engine_version = var.postgres_major_version
  instance_class = var.db_instance_class
  port           = 5432

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  username                    = var.db_admin_user
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.source.name
  parameter_group_name   = aws_db_parameter_group.source.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period    = var.db_backup_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = true
  copy_tags_to_snapshot      = true
  deletion_protection        = var.db_deletion_protection
  skip_final_snapshot        = var.db_skip_final_snapshot
  final_snapshot_identifier  = var.db_skip_final_snapshot ? null : "${var.name_prefix}-source-final"
}
