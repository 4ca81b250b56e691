variable "region" {
  description = "AWS region for every resource; S3 Tables must be offered there."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name. S3 bucket names are global, so pick something unique to you (the account id is appended to bucket names too)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-24 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC, /16 to /20; each subnet takes 8 more bits (a /24 of a /16)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = try(cidrhost(var.vpc_cidr, 0) != "" && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block of /20 or larger, such as 10.42.0.0/16."
  }
}

variable "postgres_major_version" {
  description = "Major version of RDS PostgreSQL (the local profile runs 18). RDS picks the newest minor version and upgrades minor versions itself."
  type        = string
  default     = "18"

  validation {
    condition     = contains(["17", "18"], var.postgres_major_version)
    error_message = "postgres_major_version must be \"17\" or \"18\"."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the source database."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the source database, in GB (20 is the gp3 minimum)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound for RDS storage autoscaling, in GB (a stuck replication slot retains WAL; see max_slot_wal_keep_size)."
  type        = number
  default     = 100
}

variable "db_admin_user" {
  description = "Master user of the RDS instance (SANDBOX_POSTGRES__ADMIN_USER). Its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "sandbox_admin"
}

variable "db_multi_az" {
  description = "Run the source database Multi-AZ (doubles the RDS cost)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups (0 disables them)."
  type        = number
  default     = 1
}

variable "db_deletion_protection" {
  description = "Refuse to delete the RDS instance (set true for anything you care about)."
  type        = bool
  default     = false
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot when the RDS instance is destroyed (a sandbox default)."
  type        = bool
  default     = true
}

variable "db_max_slot_wal_keep_size_mb" {
  description = "max_slot_wal_keep_size in MB: WAL a replication slot may hold back before Postgres invalidates the slot (then `sandbox replicate --resync`). Protects the disk from an abandoned slot."
  type        = number
  default     = 10240
}

variable "kinesis_stream_name" {
  description = "Name of the clickstream Kinesis stream (SANDBOX_KINESIS__STREAM)."
  type        = string
  default     = "clickstream"
}

variable "kinesis_shard_count" {
  description = "Shards of the provisioned clickstream stream (SANDBOX_KINESIS__SHARDS); each shard is billed per hour."
  type        = number
  default     = 2

  validation {
    condition     = var.kinesis_shard_count >= 1
    error_message = "kinesis_shard_count must be at least 1."
  }
}

variable "kinesis_retention_hours" {
  description = "How long the stream keeps records, in hours (24 is included in the shard price)."
  type        = number
  default     = 24
}

variable "iceberg_namespaces" {
  description = "Namespaces created in the S3 Tables table bucket: the lakehouse's silver, gold, realtime and quarantine."
  type        = list(string)
  default     = ["silver", "gold", "realtime", "quarantine"]
}

variable "generator_instance_type" {
  description = "EC2 instance type of the generator / Prefect worker (runs the Spark driver too: 8 GB of memory or more)."
  type        = string
  default     = "t3.large"
}

variable "generator_architecture" {
  description = "CPU architecture of generator_instance_type, used to pick the Amazon Linux 2023 AMI: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.generator_architecture)
    error_message = "generator_architecture must be x86_64 or arm64."
  }
}

variable "generator_root_volume_gb" {
  description = "Encrypted gp3 root volume of the worker, in GB (the virtual environment with Spark takes a few GB)."
  type        = number
  default     = 30
}

variable "repository_url" {
  description = "Optional git URL the worker clones into /opt/pipeline-sandbox on first boot; empty to clone it yourself."
  type        = string
  default     = ""
}

variable "repository_ref" {
  description = "Branch or tag to clone when repository_url is set."
  type        = string
  default     = "main"
}

variable "prefect_api_url" {
  description = "SANDBOX_PREFECT__API_URL: a Prefect server on the worker itself by default, or your Prefect Cloud workspace's API URL."
  type        = string
  default     = "http://127.0.0.1:4200/api"
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the S3 buckets (every object version) and the table bucket (every table) with their data."
  type        = bool
  default     = false
}
