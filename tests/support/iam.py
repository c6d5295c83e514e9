#!/usr/bin/env python3
"""Seeds and reads a moto IAM server, independently of Cordon (boto3 signs its
own requests). Used by `cargo xtask demo` and the end-to-end tests.

    iam.py seed-demo  --endpoint URL            deterministic demo account, auth on
    iam.py seed       --endpoint URL --prefix P --users N --keys K [--roles R]
    iam.py state      --endpoint URL --key ID --secret S
    iam.py add-keys   --endpoint URL --key ID --secret S --user U --count N

Every command prints one JSON object on stdout.
"""
import argparse
import json
import sys
import urllib.request

import boto3

BOOTSTRAP = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def client(endpoint, key=None, secret=None):
    creds = BOOTSTRAP if key is None else {"aws_access_key_id": key, "aws_secret_access_key": secret}
    return boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **creds)


def moto_api(endpoint, path, body=b""):
    req = urllib.request.Request(
        endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(req).read()


def create_operator(iam):
    """The IAM user Cordon acts as, with an admin inline policy."""
    iam.create_user(UserName="cordon-operator", Tags=[{"Key": "owner", "Value": "security"}])
    iam.put_user_policy(UserName="cordon-operator", PolicyName="admin", PolicyDocument=ADMIN_POLICY)
    key = iam.create_access_key(UserName="cordon-operator")["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def tags(**kv):
    return [{"Key": k.replace("_", "-"), "Value": v} for k, v in kv.items()]


def seed_demo(args):
    """A small realistic account. moto's random ids are seeded, so the key ids
    match the shipped signal `playbooks/signals/aws-leaked-access-key.json`."""
    moto_api(args.endpoint, "/moto-api/seed?a=20261128")
    iam = client(args.endpoint)
    operator = create_operator(iam)
    people = {
        "ci-bot": tags(owner="platform-team", workload="github-actions/deploy", used_by="agent"),
        "data-pipeline": tags(owner="data-eng", workload="airflow/etl", used_by="agent"),
        "release-agent": tags(owner="ml-platform", workload="agent-7", used_by="both"),
        "alice": tags(owner="alice", used_by="human"),
    }
    keys = {}
    for user, user_tags in people.items():
        iam.create_user(UserName=user, Tags=user_tags)
        count = 1 if user == "alice" else 2
        keys[user] = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(count)]
    iam.create_login_profile(UserName="alice", Password="Correct-Horse-9")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="deploy-role", AssumeRolePolicyDocument=trust,
                    Tags=tags(owner="platform-team", workload="github-actions/deploy"))
    # Created last, so every id above stays what the shipped signals name.
    iam.create_user(UserName="break-glass-admin", Tags=tags(owner="security", used_by="human"))
    keys["break-glass-admin"] = [iam.create_access_key(UserName="break-glass-admin")["AccessKey"]["AccessKeyId"]]
    moto_api(args.endpoint, "/moto-api/reset-auth", b"0")
    print(json.dumps({"operator": operator, "keys": keys}))


def seed(args):
    """`users` users named PREFIX-N with `keys` keys each (IAM allows 2), then auth on."""
    iam = client(args.endpoint)
    operator = create_operator(iam)
    keys = {}
    for n in range(args.users):
        user = f"{args.prefix}-{n:04d}"
        iam.create_user(UserName=user, Tags=tags(owner=f"team-{n % 3}", workload=f"svc-{n}"))
        keys[user] = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(args.keys)]
    roles = []
    for n in range(args.roles):
        role = f"{args.prefix}-role-{n}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
                        Tags=tags(owner="platform-team"))
        roles.append(role)
    if args.login_profiles:
        for user in keys:
            iam.create_login_profile(UserName=user, Password="Correct-Horse-9")
    moto_api(args.endpoint, "/moto-api/reset-auth", b"0")
    print(json.dumps({"operator": operator, "keys": keys, "roles": roles}))


def state(args):
    """Users (keys and their status, inline policies, tags, console password) and roles."""
    iam = client(args.endpoint, args.key, args.secret)
    users = {}
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            name = u["UserName"]
            metas = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            try:
                iam.get_login_profile(UserName=name)
                login = True
            except iam.exceptions.NoSuchEntityException:
                login = False
            users[name] = {
                "keys": {m["AccessKeyId"]: m["Status"] for m in metas},
                "policies": sorted(iam.list_user_policies(UserName=name)["PolicyNames"]),
                "login_profile": login,
            }
    roles = {}
    for page in iam.get_paginator("list_roles").paginate():
        for r in page["Roles"]:
            name = r["RoleName"]
            policies = {}
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                policies[p] = iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            roles[name] = {"policies": policies}
    print(json.dumps({"users": users, "roles": roles}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed-demo")
    p.add_argument("--endpoint", required=True)
    p = sub.add_parser("seed")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--prefix", default="user")
    p.add_argument("--users", type=int, default=1)
    p.add_argument("--keys", type=int, default=2)
    p.add_argument("--roles", type=int, default=0)
    p.add_argument("--login-profiles", action="store_true")
    p = sub.add_parser("state")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--secret", required=True)
    args = parser.parse_args()
    {"seed-demo": seed_demo, "seed": seed, "state": state}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
