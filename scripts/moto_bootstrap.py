#!/usr/bin/env python3
"""Give a freshly started moto server an IAM identity, then prove signatures are checked.

moto_server is started with INITIAL_NO_AUTH_ACTION_COUNT=N: its first N service
requests are served without any signature check, every later one is verified
against the IAM users and keys moto knows. This script spends exactly those N
requests (N == len(UNCHECKED_CALLS) == 4) to create user `esteira`, an allow-all
policy, the attachment and an access key. Then it checks, with signed requests,
that the new key is accepted and that a wrong secret is rejected: if the server
still let the bad one through, N was wrong and the stack would be silently
unauthenticated, so that is an error.

Usage:
  moto_bootstrap.py unchecked-calls                         print N
  moto_bootstrap.py bootstrap ENDPOINT_URL CREDS_FILE MOTO_PID
      writes CREDS_FILE (shell syntax) only when everything succeeded
  moto_bootstrap.py check ENDPOINT_URL CREDS_FILE
      exit 0 if the saved key is accepted by a signed request
"""
import json
import os
import sys

# A developer's real AWS settings must not leak into anything we do here.
for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

REGION = "us-east-1"
USER = "esteira"
POLICY_NAME = "esteira-allow-all"
# Number of requests below that run before the server checks signatures.
# services-up.sh passes this same number to moto as INITIAL_NO_AUTH_ACTION_COUNT.
UNCHECKED_CALLS = 4

# No retries: a retried request would also count towards N and shift everything.
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service, endpoint, key, secret):
    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id=key, aws_secret_access_key=secret, config=NO_RETRY)


def read_creds(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def check(endpoint, creds_path):
    creds = read_creds(creds_path)
    ident = client("sts", endpoint, creds["AWS_ACCESS_KEY_ID"],
                   creds["AWS_SECRET_ACCESS_KEY"]).get_caller_identity()
    if not ident["Arn"].endswith(f":user/{USER}"):
        sys.exit(f"moto_bootstrap: saved key belongs to {ident['Arn']}")


def bootstrap(endpoint, out_path, moto_pid):

    # --- the N unchecked calls (any key works; these are not verified) ---
    iam = client("iam", endpoint, "bootstrap", "bootstrap")
    iam.create_user(UserName=USER)                                            # 1
    policy = iam.create_policy(                                               # 2
        PolicyName=POLICY_NAME,
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }))
    iam.attach_user_policy(UserName=USER, PolicyArn=policy["Policy"]["Arn"])  # 3
    key = iam.create_access_key(UserName=USER)["AccessKey"]                   # 4
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]

    # --- from here on every request must be verified ---
    # The bad request goes first: were N larger than UNCHECKED_CALLS, it would be
    # one of the unchecked ones and get through, which is what we must detect.
    try:
        client("sts", endpoint, key_id, secret + "x").get_caller_identity()
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code != "SignatureDoesNotMatch":
            sys.exit(f"moto_bootstrap: wrong secret rejected with unexpected code {code}")
    else:
        sys.exit("moto_bootstrap: a request with a wrong secret was accepted: "
                 "signature checking is not on (INITIAL_NO_AUTH_ACTION_COUNT too high?)")
    ident = client("sts", endpoint, key_id, secret).get_caller_identity()
    if not ident["Arn"].endswith(f":user/{USER}"):
        sys.exit(f"moto_bootstrap: signed call came back as {ident['Arn']}, expected user/{USER}")

    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(f"MOTO_PID={moto_pid}\n"
                f"AWS_ACCESS_KEY_ID={key_id}\n"
                f"AWS_SECRET_ACCESS_KEY={secret}\n")
    os.replace(tmp, out_path)
    print(f"moto_bootstrap: IAM user {USER} with access key {key_id} (account {ident['Account']}); "
          f"signature checking verified")


def main():
    args = sys.argv[1:]
    if args == ["unchecked-calls"]:
        print(UNCHECKED_CALLS)
    elif len(args) == 4 and args[0] == "bootstrap":
        bootstrap(*args[1:])
    elif len(args) == 3 and args[0] == "check":
        try:
            check(*args[1:])
        except (BotoCoreError, ClientError, KeyError, OSError) as e:
            sys.exit(f"moto_bootstrap: saved key not accepted: {e}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
