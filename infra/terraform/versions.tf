terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # 6.11 added `force_destroy` to aws_s3tables_table_bucket; 6.x has every other resource used here.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.11"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "pipeline-sandbox"
      Stack     = var.name_prefix
      ManagedBy = "terraform"
    }
  }
}
