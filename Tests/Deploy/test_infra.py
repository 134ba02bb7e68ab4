"""The AWS side as code (infra/esteira.yaml): cfn-lint, then the properties that matter
read from the template itself: redrive, notification, TTL, and a worker role that can
do what the worker does and nothing more."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode

from conftest import CHART, TEMPLATE, tool


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    tpl, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return tpl


def resource(tpl, name):
    return tpl["Resources"][name]["Properties"]


def statements(doc) -> list[dict]:
    """Policy statements, with the Fn::If-optional ones unwrapped (true branch)."""
    out = []
    for st in doc["Statement"]:
        if "Fn::If" in st:
            st = st["Fn::If"][1]
        out.append(st)
    return out


def actions(st) -> list[str]:
    return st["Action"] if isinstance(st["Action"], list) else [st["Action"]]


def test_cfn_lint_is_clean():
    out = subprocess.run([tool("cfn-lint"), "--format", "parseable", "--", str(TEMPLATE)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_defaults_match_the_chart(template):
    """A stack with default names and a chart with default values meet."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    p = template["Parameters"]
    assert p["QueueName"]["Default"] == values["worker"]["queue"]
    assert p["DeadLetterQueueName"]["Default"] == values["worker"]["deadLetterQueue"]
    assert p["JobsTableName"]["Default"] == values["worker"]["jobsTable"]
    assert p["VisibilityTimeout"]["Default"] == values["worker"]["visibilityTimeout"]
    # The chart's ServiceAccount is "<release>-esteira", or "esteira" for a release named esteira.
    assert p["ServiceAccountName"]["Default"] == "esteira"


def test_queue_redrives_into_the_dead_letter_queue(template):
    q = resource(template, "Queue")
    assert q["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                                  "maxReceiveCount": {"Ref": "MaxReceiveCount"}}
    assert q["SqsManagedSseEnabled"] is True
    dlq = resource(template, "DeadLetterQueue")
    assert dlq["MessageRetentionPeriod"] == 1209600
    # Only the main queue may redrive into it; with fair share (EnableFairShare) any queue of the
    # account, since `esteira setup --routes` creates the tenants' queues.
    condition, fair, default = dlq["RedriveAllowPolicy"]["Fn::If"]
    assert condition == "FairShare"
    assert fair == {"redrivePermission": "allowAll"}
    assert default["redrivePermission"] == "byQueue"
    assert default["sourceQueueArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"}]


def test_bucket_notifies_the_queue_which_lets_s3_send(template):
    bucket = template["Resources"]["LandingBucket"]
    assert bucket["DependsOn"] == "QueuePolicy"
    # With fair share the notifications are `esteira setup --routes`'s (one per tenant prefix).
    condition, fair, default = bucket["Properties"]["NotificationConfiguration"]["Fn::If"]
    assert (condition, fair) == ("FairShare", {"Ref": "AWS::NoValue"})
    (notification,) = default["QueueConfigurations"]
    assert notification == {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["Queue", "Arn"]}}
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    allow = [s for s in statements(resource(template, "QueuePolicy")["PolicyDocument"]) if s["Effect"] == "Allow"]
    (s3,) = allow
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"} and s3["Action"] == "sqs:SendMessage"
    assert s3["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}"}
    assert resource(template, "QueuePolicy")["Queue"] == {"Ref": "Queue"}


def test_jobs_table_is_keyed_by_pk_with_ttl(template):
    table = resource(template, "JobsTable")
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


# What the worker, `esteira dlq replay` and `esteira reconcile` call (Sources/EsteiraWorker, Sources/EsteiraPipeline),
# per resource: a new AWS call in the code needs a grant here and in the template.
WORKER_NEEDS = {
    "ReadLandedFiles": {"s3:GetObject", "s3:GetObjectVersion"},
    "WriteRejects": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "ConsumeQueue": {"sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
                     "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"},
    "DeadLetter": {"sqs:GetQueueUrl", "sqs:SendMessage", "sqs:GetQueueAttributes"},
    "JobsLedger": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    # Optional, each behind a parameter:
    "ReadMySQLSecret": {"secretsmanager:GetSecretValue"},
    "DecryptMySQLSecret": {"kms:Decrypt"},
    "ReplayDeadLetters": {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"},
    "ReplayIntoQueue": {"sqs:SendMessage"},
    "ListLandedFiles": {"s3:ListBucket"},
    "PublishNotifications": {"sns:Publish"},
}


def test_worker_role_is_least_privilege(template):
    (policy,) = resource(template, "WorkerRole")["Policies"]
    granted = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert {sid: set(actions(s)) for sid, s in granted.items()} == WORKER_NEEDS
    for sid, st in granted.items():
        assert st["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in actions(st)), sid
        assert st["Resource"] != "*", f"{sid} is not scoped to a resource"
    # The tenants' queues (<QueueName>-<tenant>) only with fair share.
    assert granted["ConsumeQueue"]["Resource"] == {"Fn::If": [
        "FairShare", [{"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::Sub": "${Queue.Arn}-*"}], {"Fn::GetAtt": ["Queue", "Arn"]}]}
    assert granted["ReadLandedFiles"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*/data/*"}
    assert granted["WriteRejects"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/esteira-rejects/*"}
    # `esteira reconcile` lists the tenants' data/ prefixes only, never the rejects or anything else.
    assert granted["ListLandedFiles"]["Condition"] == {"StringLike": {"s3:prefix": "*/data/*"}}


def test_worker_role_trusts_only_the_service_account(template):
    irsa, pod_identity = resource(template, "WorkerRole")["AssumeRolePolicyDocument"]["Fn::If"][1:]
    # IRSA: the JSON is a Fn::Sub string (its condition keys start with the issuer).
    doc = json.loads(irsa["Fn::Sub"])
    (st,) = doc["Statement"]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Principal"]["Federated"].endswith(":oidc-provider/${OidcProvider}")
    assert st["Condition"]["StringEquals"] == {
        "${OidcProvider}:sub": "system:serviceaccount:${KubernetesNamespace}:${ServiceAccountName}",
        "${OidcProvider}:aud": "sts.amazonaws.com"}
    (st,) = pod_identity["Statement"]
    assert st["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(st["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assoc = resource(template, "WorkerPodIdentity")
    assert (assoc["Namespace"], assoc["ServiceAccount"]) == ({"Ref": "KubernetesNamespace"}, {"Ref": "ServiceAccountName"})


def test_keda_may_read_the_queue_depth(template):
    (st,) = resource(template, "KedaQueueMetricsPolicy")["PolicyDocument"]["Statement"]
    assert "sqs:GetQueueAttributes" in st["Action"]
    assert st["Resource"] == {"Fn::If": [
        "FairShare", [{"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::Sub": "${Queue.Arn}-*"}], {"Fn::GetAtt": ["Queue", "Arn"]}]}


def test_sftp_users_are_confined_to_their_tenant(template):
    (loop_key,) = [k for k in template["Resources"] if k.startswith("Fn::ForEach::")]
    identifier, collection, body = template["Resources"][loop_key]
    assert identifier == "Tenant" and collection == {"Ref": "SftpTenants"}
    (user,) = body.values()
    assert user["Condition"] == "CreateSftp"
    props = user["Properties"]
    assert props["UserName"] == {"Ref": "Tenant"}
    assert props["HomeDirectoryType"] == "LOGICAL"  # chrooted to the mappings below
    assert {m["Entry"]: m["Target"]["Fn::Sub"] for m in props["HomeDirectoryMappings"]} == {
        "/data": "/${BucketName}/${Tenant}/data",
        "/rejects": "/${BucketName}/esteira-rejects/${Tenant}/data"}
    session = json.loads(props["Policy"]["Fn::Sub"])
    for st in session["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        prefixes = st.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
        assert all("${Tenant}" in r for r in resources + prefixes) or prefixes, st["Sid"]
        assert all("${Tenant}" in p for p in prefixes), st["Sid"]


# What `esteira sftp` calls (Sources/EsteiraSFTP/Storage, SFTPCommand.swift): ListObjectsV2 (ls and
# the start-up check), HeadObject/GetObject, PutObject and the multipart upload calls,
# CopyObject + DeleteObject (rename), DeleteObject (rm, rmdir), AbortMultipartUpload (a broken
# upload), and GetSecretValue when the users are a Secrets Manager secret.
GATEWAY_NEEDS = {
    "ListLanding": {"s3:ListBucket"},
    "PartnerFiles": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
    "ReadUsersSecret": {"secretsmanager:GetSecretValue"},  # behind SftpUsersSecretArn
}


def test_sftp_gateway_role_grants_what_the_gateway_calls(template):
    role = template["Resources"]["SftpGatewayRole"]
    assert role["Condition"] == "CreateSftpGateway"
    (policy,) = role["Properties"]["Policies"]
    granted = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert {sid: set(actions(s)) for sid, s in granted.items()} == GATEWAY_NEEDS
    for sid, st in granted.items():
        assert st["Effect"] == "Allow" and st["Resource"] != "*", sid
        assert not any(a.endswith("*") for a in actions(st)), sid
    assert granted["ListLanding"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}"}
    assert granted["PartnerFiles"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*"}
    assert granted["ReadUsersSecret"]["Resource"] == {"Ref": "SftpUsersSecretArn"}
    # The worker's role gains nothing from the gateway: it still may not write partners' files.
    (worker,) = resource(template, "WorkerRole")["Policies"]
    assert not any("s3:DeleteObject" in actions(s) for s in statements(worker["PolicyDocument"]))


def test_sftp_gateway_role_trusts_only_its_service_account(template):
    irsa, pod_identity = resource(template, "SftpGatewayRole")["AssumeRolePolicyDocument"]["Fn::If"][1:]
    (st,) = json.loads(irsa["Fn::Sub"])["Statement"]
    assert st["Condition"]["StringEquals"] == {
        "${OidcProvider}:sub": "system:serviceaccount:${KubernetesNamespace}:${SftpGatewayServiceAccountName}",
        "${OidcProvider}:aud": "sts.amazonaws.com"}
    (st,) = pod_identity["Statement"]
    assert st["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assoc = template["Resources"]["SftpGatewayPodIdentity"]
    assert assoc["Condition"] == "SftpGatewayPodIdentity"
    assert assoc["Properties"]["ServiceAccount"] == {"Ref": "SftpGatewayServiceAccountName"}
    assert assoc["Properties"]["RoleArn"] == {"Fn::GetAtt": ["SftpGatewayRole", "Arn"]}


def test_sftp_gateway_defaults_match_the_chart(template):
    """The stack's default gateway ServiceAccount is the one the chart makes for a release named esteira."""
    from conftest import render
    objects = render({"sftp": {"enabled": True, "users": {"existingSecret": "sftp-users"}}})
    (sa,) = [o for o in objects if o["kind"] == "ServiceAccount"
             and o["metadata"]["labels"]["app.kubernetes.io/component"] == "sftp-gateway"]
    assert template["Parameters"]["SftpGatewayServiceAccountName"]["Default"] == sa["metadata"]["name"]
    assert template["Parameters"]["EnableSftpGateway"]["Default"] == "false"
    helm_set = template["Outputs"]["HelmSetValues"]["Value"]["Fn::Join"][1]
    assert {"Fn::If": ["SftpGatewayIrsa", {"Fn::Sub": "sftp.serviceAccount.roleArn=${SftpGatewayRole.Arn}"},
                       {"Ref": "AWS::NoValue"}]} in helm_set
