"""Static checks of the aws profile's infrastructure (infra/terraform), with neither Terraform nor AWS.

Every file is parsed with python-hcl2 and held to what the pipeline needs and to a security
baseline: a private, encrypted RDS Postgres with logical replication, reachable from the worker
only; private, versioned, encrypted buckets; an encrypted stream; an S3 Tables catalog holding the
lakehouse's namespaces; least-privilege IAM; an IMDSv2-only worker reached through SSM, not SSH.
Every variable is typed and described, the outputs cover the aws profile's settings, and the files
keep the layout `terraform fmt` writes (Terraform is not installable here, so the checks below
re-implement its indentation and `=` alignment rules).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions
from pydantic import BaseModel

from services.platform.settings import PROJECT_ROOT, KinesisSettings, Settings

INFRA = PROJECT_ROOT / "infra"
TERRAFORM = INFRA / "terraform"
TF_FILES = sorted(TERRAFORM.glob("*.tf"))
TFVARS_EXAMPLE = TERRAFORM / "terraform.tfvars.example"

# python-hcl2 8.x keeps the quotes of strings and marks blocks by default; ask for plain values.
# Expressions stay strings in their "${...}" wrapper.
PLAIN = SerializationOptions(
    with_comments=False, explicit_blocks=False, preserve_heredocs=False, strip_string_quotes=True
)

# Settings the aws profile needs from Terraform (the rest keep their defaults or are secrets).
ENV_KEYS = {
    "SANDBOX_PROFILE",
    "SANDBOX_AWS__REGION",
    "SANDBOX_POSTGRES__HOST",
    "SANDBOX_POSTGRES__PORT",
    "SANDBOX_POSTGRES__ADMIN_USER",
    "SANDBOX_S3__RAW_BUCKET",
    "SANDBOX_S3__FINAL_BUCKET",
    "SANDBOX_S3__REALTIME_BUCKET",
    "SANDBOX_CATALOG__URI",
    "SANDBOX_CATALOG__WAREHOUSE",
    "SANDBOX_CATALOG__SIGNING_NAME",
    "SANDBOX_KINESIS__STREAM",
    "SANDBOX_KINESIS__SHARDS",
    "SANDBOX_PREFECT__API_URL",
}
OUTPUTS = {
    "region",
    "postgres_host",
    "postgres_port",
    "postgres_admin_user",
    "raw_bucket",
    "final_bucket",
    "realtime_bucket",
    "kinesis_stream",
    "catalog_uri",
    "catalog_warehouse",
    "env_file",
}
ZONES = {"raw", "final", "realtime"}
# Actions AWS authorizes on "*" only; nothing else may be granted on every resource.
STAR_RESOURCE_ACTIONS = {"kinesis:ListStreams"}
# Managed policies the worker may carry: the SSM agent's, for Session Manager.
MANAGED_POLICIES = {"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
# What each service's Allow statements must be scoped to.
SCOPE = {
    "s3": "aws_s3_bucket.zone",
    "kinesis": "aws_kinesis_stream.clickstream",
    "s3tables": "aws_s3tables_table_bucket.lake",
    "secretsmanager": "aws_db_instance.source.master_user_secret",
    "ssm": "aws_ssm_parameter.env_file",
}


# --- reading the configuration ------------------------------------------------------------


@functools.cache
def parsed(path: Path) -> dict[str, Any]:
    return hcl2.loads(path.read_text(), serialization_options=PLAIN)


def expr(value: Any) -> str:
    """An expression without its wrapper: "${var.x}" -> "var.x"; literals as text."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def block_list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A nested block's instances (python-hcl2 gives blocks as lists, object attributes as dicts)."""
    value = body.get(key, [])
    return value if isinstance(value, list) else [value]


@functools.cache
def declared(kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every `resource` or `data` block of the configuration, by (type, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in TF_FILES:
        for entry in parsed(path).get(kind, []):
            for type_, named in entry.items():
                for name, body in named.items():
                    assert (type_, name) not in found, f"{kind} {type_}.{name} is declared twice"
                    found[type_, name] = body
    return found


def resources(type_: str) -> dict[str, dict[str, Any]]:
    return {name: body for (t, name), body in declared("resource").items() if t == type_}


def data_sources(type_: str) -> dict[str, dict[str, Any]]:
    return {name: body for (t, name), body in declared("data").items() if t == type_}


@functools.cache
def top_level(kind: str) -> dict[str, dict[str, Any]]:
    """`variable` or `output` blocks by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in TF_FILES:
        for entry in parsed(path).get(kind, []):
            for name, body in entry.items():
                assert name not in found, f"{kind} {name} is declared twice"
                found[name] = body
    return found


@functools.cache
def locals_() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in TF_FILES:
        for entry in parsed(path).get("locals", []):
            values.update(entry)
    return values


def single(type_: str) -> tuple[str, dict[str, Any]]:
    found = resources(type_)
    assert len(found) == 1, f"expected exactly one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def referenced(value: Any, type_: str) -> str:
    """The name of the `type_` resource an expression refers to ("aws_x.name.id" -> "name")."""
    match = re.search(rf"\b{re.escape(type_)}\.([a-z0-9_]+)\b", expr(value))
    assert match, f"{value!r} does not refer to a {type_}"
    return match[1]


def default_of(variable: str) -> Any:
    return top_level("variable")[variable]["default"]


def env_file_lines() -> dict[str, str]:
    """The KEY=value lines of the rendered settings file (comments left out)."""
    text = locals_()["env_file"]
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert all("=" in line for line in lines), lines
    return dict(line.split("=", 1) for line in lines)


# --- terraform fmt's layout ---------------------------------------------------------------

HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)\s*$")


@dataclass
class Line:
    number: int
    text: str
    indent: int | None  # the indentation terraform fmt gives it; None: a blank line or heredoc body
    assign: int | None  # column of an attribute's `=` when the value ends on this line
    trailing_comment: bool = False


def scan(line: str) -> tuple[int, int | None, int, str | None, bool]:
    """One line of HCL as terraform fmt (hclwrite) sees it.

    Returns the net count of opening minus closing brackets (`{ [ ( ${ %{` against `} ] )`), the
    column of the first `=` that is not part of `== != <= >= =>`, the net count from that `=` on,
    the marker of a heredoc the line opens, and whether the line ends in a comment after code.
    """
    stack = ["code"]  # "code", "{" (a brace in code), "string", "interp" (a template sequence)
    net, equals, net_at_equals, index = 0, None, 0, 0
    while index < len(line):
        char, pair = line[index], line[index : index + 2]
        if stack[-1] == "string":
            if char == "\\":
                index += 2
                continue
            if line.startswith(("$${", "%%{"), index):
                index += 3
                continue
            if pair in ("${", "%{"):
                stack.append("interp")
                net += 1
                index += 2
                continue
            if char == '"':
                stack.pop()
            index += 1
            continue
        if char == "#" or pair == "//":
            return net, equals, net - net_at_equals, None, bool(line[:index].strip())
        if char == '"':
            stack.append("string")
        elif pair == "<<" and (heredoc := HEREDOC.match(line, index)):
            return net, equals, net - net_at_equals, heredoc[1], False
        elif char in "{[(":
            net += 1
            if char == "{":
                stack.append("{")
        elif char in "}])":
            net -= 1
            if char == "}" and len(stack) > 1:
                stack.pop()
        elif char == "=":
            if pair in ("==", "=>"):
                index += 2
                continue
            if equals is None and (index == 0 or line[index - 1] not in "!<>"):
                equals, net_at_equals = index, net
        index += 1
    return net, equals, net - net_at_equals, None, False


def layout(text: str) -> list[Line]:
    """Each line with the indentation and `=` column terraform fmt would give it."""
    lines: list[Line] = []
    indents: list[int] = []  # brackets each open indentation level holds, as hclwrite's formatIndent
    heredoc: str | None = None
    for number, text_line in enumerate(text.splitlines(), 1):
        if heredoc is not None:
            if text_line.strip() == heredoc:
                heredoc = None
            lines.append(Line(number, text_line, None, None))
            continue
        if not text_line.strip():
            lines.append(Line(number, text_line, None, None))
            continue
        net, equals, after_equals, heredoc, trailing = scan(text_line)
        if net < 0:
            closed = -net
            while closed and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
        indent = 2 * len(indents)
        if net > 0:
            indents.append(net)
        assign = equals if equals is not None and equals > 0 and after_equals == 0 else None
        lines.append(Line(number, text_line, indent, assign, trailing))
    return lines


def assignment_chains(lines: list[Line]) -> Iterator[list[Line]]:
    """Runs of consecutive one-line attributes: terraform fmt aligns the `=` within each."""
    chain: list[Line] = []
    for line in lines:
        if line.assign is None:
            if chain:
                yield chain
            chain = []
        else:
            chain.append(line)
    if chain:
        yield chain


def fmt_problems(text: str) -> list[str]:
    problems = []
    if not text.endswith("\n") or text.endswith("\n\n"):
        problems.append("the file must end with exactly one newline")
    if "\r" in text:
        problems.append("CRLF line endings")
    lines = layout(text)
    for line in lines:
        where = f"line {line.number}: {line.text.strip()[:60]!r}"
        if "\t" in line.text:
            problems.append(f"{where}: tab")
        if line.text != line.text.rstrip():
            problems.append(f"{where}: trailing whitespace")
        if line.indent is not None and len(line.text) - len(line.text.lstrip(" ")) != line.indent:
            problems.append(f"{where}: indented {len(line.text) - len(line.text.lstrip(' '))}, expected {line.indent}")
        if line.trailing_comment:
            problems.append(f"{where}: put the comment on a line of its own")
        if line.assign is not None and not re.match(r"= \S", line.text[line.assign :]):
            problems.append(f"{where}: one space after '='")
    for chain in assignment_chains(lines):
        width = max(len(line.text[: line.assign].rstrip()) for line in chain)
        for line in chain:
            if line.assign != width + 1:
                problems.append(f"line {line.number}: '=' at column {line.assign}, aligned at {width + 1}")
    return problems


# --- files --------------------------------------------------------------------------------


def test_the_configuration_is_split_by_concern() -> None:
    names = {path.name for path in TF_FILES}
    assert {"versions.tf", "variables.tf", "outputs.tf", "network.tf", "rds.tf", "s3.tf"} <= names
    assert {"tables.tf", "kinesis.tf", "iam.tf", "compute.tf"} <= names
    assert TFVARS_EXAMPLE.is_file()
    assert (INFRA / "README.md").is_file()


@pytest.mark.parametrize("path", [*TF_FILES, TFVARS_EXAMPLE], ids=lambda path: path.name)
def test_files_parse_and_keep_terraform_fmt_layout(path: Path) -> None:
    assert isinstance(parsed(path), dict)
    assert fmt_problems(path.read_text()) == []


def test_the_fmt_check_catches_what_terraform_fmt_would_change() -> None:
    good = 'resource "a" "b" {\n  name  = "x"\n  count = 2\n\n  tags = {\n    A = "b"\n  }\n}\n'
    assert fmt_problems(good) == []
    assert fmt_problems(good.replace('name  = "x"', 'name = "x"'))  # not aligned
    assert fmt_problems(good.replace("  count = 2", "    count = 2"))  # wrong indentation
    assert fmt_problems(good.replace('"x"', '"x" '))  # trailing whitespace
    assert fmt_problems(good.replace("    A", "\tA"))  # tab
    assert fmt_problems(good.replace('A = "b"', 'A =  "b"'))  # two spaces after "="
    heredoc = 'locals {\n  a    = 1\n  text = <<-EOT\n      free  =  layout\n  EOT\n  b = [\n    "c",\n  ]\n}\n'
    assert fmt_problems(heredoc) == []  # a heredoc's body is free text
    assert fmt_problems(heredoc.replace("a    = 1", "a = 1")) == ["line 2: '=' at column 4, aligned at 7"]


# --- provider and variables ---------------------------------------------------------------


def test_terraform_and_the_aws_provider_are_pinned() -> None:
    settings = [block for path in TF_FILES for block in parsed(path).get("terraform", [])]
    assert len(settings) == 1
    assert re.fullmatch(r">= ?1\.\d+(\.\d+)?", settings[0]["required_version"])
    aws = block_list(settings[0], "required_providers")[0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    # ~> 6.11 or ~> 5.80: a major version held, a minimum that has aws_s3tables_table_bucket.
    assert re.fullmatch(r"~> (5\.(8\d|9\d|\d{3})|6\.\d+)(\.\d+)?", aws["version"]), aws["version"]


def test_every_variable_has_a_type_and_a_description() -> None:
    variables = top_level("variable")
    assert variables
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert isinstance(body.get("description"), str) and len(body["description"]) > 10, name
        if re.search(r"password|secret|token", name):
            assert body.get("sensitive") is True, f"variable {name} must be sensitive"


def test_every_variable_is_used_and_every_use_is_declared() -> None:
    text = "\n".join(path.read_text() for path in TF_FILES)
    used = set(re.findall(r"\bvar\.([a-z0-9_]+)", text))
    declared_names = set(top_level("variable"))
    assert used - declared_names == set()
    assert declared_names - used == set()


def test_the_tfvars_example_sets_declared_variables_and_every_required_one() -> None:
    example = parsed(TFVARS_EXAMPLE)
    variables = top_level("variable")
    assert set(example) <= set(variables)
    required = {name for name, body in variables.items() if "default" not in body}
    assert required == {"name_prefix"}
    assert required <= set(example)


# --- network ------------------------------------------------------------------------------


def test_network_has_two_private_subnets_across_zones_and_one_nat_egress() -> None:
    assert len(resources("aws_vpc")) == 1
    subnets = resources("aws_subnet")
    private = subnets["private"]
    assert private["count"] == 2
    assert "count.index" in expr(private["availability_zone"])
    assert all(body["map_public_ip_on_launch"] is False for body in subnets.values())

    _, nat = single("aws_nat_gateway")
    assert referenced(nat["subnet_id"], "aws_subnet") == "public"
    routes = resources("aws_route")
    private_routes = [r for r in routes.values() if referenced(r["route_table_id"], "aws_route_table") == "private"]
    assert [expr(r["destination_cidr_block"]) for r in private_routes] == ["0.0.0.0/0"]
    assert "nat_gateway_id" in private_routes[0]
    assert all("gateway_id" not in r for r in private_routes)

    endpoints = resources("aws_vpc_endpoint")
    assert any(
        e["vpc_endpoint_type"] == "Gateway" and expr(e["service_name"]).endswith(".s3") for e in endpoints.values()
    )


def test_no_security_group_admits_anything_but_postgres_from_the_worker() -> None:
    groups = resources("aws_security_group")
    assert all("ingress" not in body for body in groups.values()), "inline ingress rules"
    assert resources("aws_security_group_rule") == {}
    _, worker = single("aws_instance")
    worker_groups = {referenced(group, "aws_security_group") for group in worker["vpc_security_group_ids"]}
    _, database = single("aws_db_instance")
    database_groups = {referenced(group, "aws_security_group") for group in database["vpc_security_group_ids"]}
    assert worker_groups.isdisjoint(database_groups)

    ingress = resources("aws_vpc_security_group_ingress_rule")
    assert ingress
    for name, rule in ingress.items():
        assert referenced(rule["security_group_id"], "aws_security_group") in database_groups, name
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 5432, 5432), name
        assert referenced(rule["referenced_security_group_id"], "aws_security_group") in worker_groups, name
        assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(rule), name
    assert "key_name" not in worker, "no SSH key: the worker is reached through SSM Session Manager"


# --- the source database ------------------------------------------------------------------


def test_the_source_database_is_private_encrypted_and_replicates_logically() -> None:
    _, db = single("aws_db_instance")
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False
    assert db["manage_master_user_password"] is True
    assert "password" not in db, "the master password is generated by RDS into Secrets Manager"
    assert expr(db["engine_version"]) == "var.postgres_major_version"
    assert default_of("postgres_major_version") in ("17", "18")

    subnet_group = resources("aws_db_subnet_group")[referenced(db["db_subnet_group_name"], "aws_db_subnet_group")]
    assert referenced(subnet_group["subnet_ids"], "aws_subnet") == "private"

    group = resources("aws_db_parameter_group")[referenced(db["parameter_group_name"], "aws_db_parameter_group")]
    assert expr(group["family"]) == "postgres${var.postgres_major_version}"
    parameters = {p["name"]: p for p in block_list(group, "parameter")}
    assert str(parameters["rds.logical_replication"]["value"]) == "1"
    assert parameters["rds.logical_replication"]["apply_method"] == "pending-reboot"  # a static parameter
    assert str(parameters["rds.force_ssl"]["value"]) == "1"


# --- object storage and the catalog -------------------------------------------------------


def bucket_instances() -> dict[str, str]:
    """Each S3 bucket instance ("zone[raw]") with the resource it comes from."""
    instances = {}
    for name, body in resources("aws_s3_bucket").items():
        if "for_each" in body:
            source = expr(body["for_each"])
            assert source.startswith("local."), f"aws_s3_bucket.{name}: for_each over a local, to be checkable"
            instances |= {f"{name}[{key}]": name for key in locals_()[source.removeprefix("local.")]}
        else:
            instances[name] = name
    return instances


def covered_buckets(type_: str) -> dict[str, dict[str, Any]]:
    """The bucket instances a bucket-level resource type configures, with the configuring block."""
    covered: dict[str, dict[str, Any]] = {}
    instances = bucket_instances()
    for name, body in resources(type_).items():
        if "for_each" in body:
            source = referenced(body["for_each"], "aws_s3_bucket")
            assert expr(body["bucket"]) == "each.value.id", f"{type_}.{name}"
            covered |= {instance: body for instance, of in instances.items() if of == source}
        else:
            covered[referenced(body["bucket"], "aws_s3_bucket")] = body
    return covered


def test_the_three_zones_are_buckets_named_from_the_prefix() -> None:
    instances = bucket_instances()
    assert {re.sub(r".*\[(.*)\]", r"\1", instance) for instance in instances} == ZONES
    for name in locals_()["buckets"].values():
        assert "${var.name_prefix}" in name


PUBLIC_ACCESS_BLOCKS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def versioned(body: dict[str, Any]) -> bool:
    return block_list(body, "versioning_configuration")[0]["status"] == "Enabled"


def encrypted(body: dict[str, Any]) -> bool:
    default = block_list(block_list(body, "rule")[0], "apply_server_side_encryption_by_default")[0]
    return default["sse_algorithm"] in ("aws:kms", "aws:kms:dsse", "AES256")


def private(body: dict[str, Any]) -> bool:
    return all(body.get(flag) is True for flag in PUBLIC_ACCESS_BLOCKS)


def owner_enforced(body: dict[str, Any]) -> bool:
    return block_list(body, "rule")[0]["object_ownership"] == "BucketOwnerEnforced"


BUCKET_SETTINGS = {
    "aws_s3_bucket_versioning": versioned,
    "aws_s3_bucket_server_side_encryption_configuration": encrypted,
    "aws_s3_bucket_public_access_block": private,
    "aws_s3_bucket_ownership_controls": owner_enforced,
}


@pytest.mark.parametrize("type_", sorted(BUCKET_SETTINGS))
def test_every_bucket_is_configured(type_: str) -> None:
    covered = covered_buckets(type_)
    assert set(covered) == set(bucket_instances()), f"{type_} misses {set(bucket_instances()) - set(covered)}"
    assert all(BUCKET_SETTINGS[type_](body) for body in covered.values())


def test_every_bucket_refuses_plain_http() -> None:
    covered = covered_buckets("aws_s3_bucket_policy")
    assert set(covered) == set(bucket_instances())
    for body in covered.values():
        document = data_sources("aws_iam_policy_document")[referenced(body["policy"], "data.aws_iam_policy_document")]
        denies = [s for s in block_list(document, "statement") if s.get("effect") == "Deny"]
        conditions = [c for s in denies for c in block_list(s, "condition")]
        assert any(
            (c["test"], c["variable"], c["values"]) == ("Bool", "aws:SecureTransport", ["false"]) for c in conditions
        )


def test_the_catalog_is_an_s3_tables_bucket_with_the_lakehouse_namespaces() -> None:
    name, bucket = single("aws_s3tables_table_bucket")
    assert "${var.name_prefix}" in bucket["name"]
    assert bucket["encryption_configuration"]["sse_algorithm"] in ("AES256", "aws:kms")
    _, namespaces = single("aws_s3tables_namespace")
    assert expr(namespaces["for_each"]) == "toset(var.iceberg_namespaces)"
    assert referenced(namespaces["table_bucket_arn"], "aws_s3tables_table_bucket") == name
    wanted = set(Settings().iceberg_namespaces)  # the defaults
    assert wanted <= set(default_of("iceberg_namespaces"))
    assert locals_()["catalog_uri"] == "https://s3tables.${var.region}.amazonaws.com/iceberg"
    assert locals_()["catalog_signing_name"] == "s3tables"


# --- streaming ----------------------------------------------------------------------------


def test_the_clickstream_stream_is_encrypted_and_sized_by_variables() -> None:
    _, stream = single("aws_kinesis_stream")
    assert stream["encryption_type"] == "KMS"
    assert stream["kms_key_id"]
    assert expr(stream["shard_count"]) == "var.kinesis_shard_count"
    assert expr(stream["name"]) == "var.kinesis_stream_name"
    # The same defaults as the local profile's emulator.
    assert default_of("kinesis_shard_count") == KinesisSettings.model_fields["shards"].default
    assert default_of("kinesis_stream_name") == KinesisSettings.model_fields["stream"].default


# --- identity and the worker --------------------------------------------------------------


def test_iam_grants_no_wildcard_actions_and_scopes_every_service() -> None:
    documents = data_sources("aws_iam_policy_document")
    assert documents
    for name, document in documents.items():
        for statement in block_list(document, "statement"):
            where = f"{name}/{statement.get('sid', '?')}"
            assert "not_actions" not in statement and "not_resources" not in statement, where
            if statement.get("effect", "Allow") != "Allow":
                continue
            actions = statement["actions"]
            assert all("*" not in action for action in actions), f"{where}: wildcard action"
            if "principals" in statement:
                continue  # a trust policy: who may assume the role
            # A list of ARNs, or one expression that builds the list (a `for` over the buckets).
            listed = statement["resources"] if isinstance(statement["resources"], list) else [statement["resources"]]
            if "*" in listed:
                assert set(actions) <= STAR_RESOURCE_ACTIONS and listed == ["*"], f"{where}: '*' resource"
                continue
            services = {action.split(":")[0] for action in actions}
            assert len(services) == 1, f"{where}: one service per statement"
            scope = SCOPE[services.pop()]
            assert all(scope in expr(resource) for resource in listed), f"{where}: {listed} are not {scope}"

    for type_ in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, policy in resources(type_).items():
            assert re.fullmatch(r"data\.aws_iam_policy_document\.[a-z0-9_]+\.json", expr(policy["policy"])), name
    for name, attachment in resources("aws_iam_role_policy_attachment").items():
        assert attachment["policy_arn"] in MANAGED_POLICIES, name


def test_the_worker_is_private_imdsv2_only_encrypted_and_managed_through_ssm() -> None:
    _, worker = single("aws_instance")
    assert referenced(worker["subnet_id"], "aws_subnet") == "private"
    assert worker.get("associate_public_ip_address") is False
    metadata = block_list(worker, "metadata_options")[0]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_endpoint"] == "enabled"
    root = block_list(worker, "root_block_device")[0]
    assert root["encrypted"] is True

    profile_name = referenced(worker["iam_instance_profile"], "aws_iam_instance_profile")
    role = referenced(resources("aws_iam_instance_profile")[profile_name]["role"], "aws_iam_role")
    attached = {
        a["policy_arn"]
        for a in resources("aws_iam_role_policy_attachment").values()
        if referenced(a["role"], "aws_iam_role") == role
    }
    assert "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" in attached
    inline = [p for p in resources("aws_iam_role_policy").values() if referenced(p["role"], "aws_iam_role") == role]
    assert len(inline) == 1


# --- outputs ------------------------------------------------------------------------------


def test_outputs_cover_the_aws_profile_settings() -> None:
    outputs = top_level("output")
    assert set(outputs) >= OUTPUTS
    assert all(body.get("description") for body in outputs.values())
    assert expr(outputs["env_file"]["value"]) == "local.env_file"


def test_the_env_file_sets_every_setting_the_aws_profile_needs_and_no_secret() -> None:
    lines = env_file_lines()
    assert set(lines) >= ENV_KEYS
    assert lines["SANDBOX_PROFILE"] == "aws"
    assert lines["SANDBOX_CATALOG__SIGNING_NAME"] in ("${local.catalog_signing_name}", "s3tables")
    assert not [key for key in lines if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key)]


@pytest.mark.parametrize("key", sorted(ENV_KEYS))
def test_every_env_file_key_is_a_setting_of_the_application(key: str) -> None:
    """SANDBOX_A__B must name Settings.a.b, or the application ignores the line."""
    model: type[BaseModel] = Settings
    parts = key.removeprefix("SANDBOX_").lower().split("__")
    for depth, part in enumerate(parts):
        assert part in model.model_fields, f"{key}: no setting {part!r} in {model.__name__}"
        annotation = model.model_fields[part].annotation
        if depth < len(parts) - 1:
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel), key
            model = annotation


def test_the_readme_names_only_outputs_that_exist() -> None:
    readme = (INFRA / "README.md").read_text()
    named = set(re.findall(r"terraform output (?:-raw |-json )?([a-z_]+)", readme))
    assert named, "the README shows how to read the outputs"
    assert named <= set(top_level("output"))
