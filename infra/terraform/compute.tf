# The generator / Prefect worker (the EC2 role): runs the `sandbox` CLI, the Prefect worker and
# the Spark driver, next to the database in a private subnet. No SSH key, no inbound port:
# `aws ssm start-session --target <instance id>`. IMDSv2 only, encrypted root volume.

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-${var.generator_architecture}"]
  }

  filter {
    name   = "architecture"
    values = [var.generator_architecture]
  }
}

resource "aws_instance" "worker" {
  ami                    = data.aws_ami.al2023.id
  instance_type          = var.generator_instance_type
  subnet_id              = aws_subnet.private[0].id
  vpc_security_group_ids = [aws_security_group.worker.id]
  iam_instance_profile   = aws_iam_instance_profile.worker.name

  associate_public_ip_address = false

  user_data = templatefile("${path.module}/templates/worker-user-data.sh.tftpl", {
    repository_url = var.repository_url
    repository_ref = var.repository_ref
  })

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.generator_root_volume_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags = {
    Name = "${var.name_prefix}-worker"
  }

  # A newer AMI or an edited first-boot script must not replace a worker that holds state.
  lifecycle {
    ignore_changes = [ami, user_data]
  }

  # The first boot installs packages through the NAT gateway.
  depends_on = [aws_route.private_nat, aws_route_table_association.private]
}

# The rendered settings (outputs env_file), readable from the worker:
# aws ssm get-parameter --name <name> --query Parameter.Value --output text > .env
resource "aws_ssm_parameter" "env_file" {
  name        = "/${var.name_prefix}/sandbox/env"
  description = "SANDBOX_* settings of the aws profile (no secrets)"
  type        = "String"
  value       = local.env_file
}
