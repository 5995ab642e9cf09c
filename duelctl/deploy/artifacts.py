"""The artifact bucket and content-addressed uploads (`duelctl/<sha256>.zip`).

A key names its bytes, so an object already there is never uploaded again, and an
unchanged app yields the same CodeUri, which is what makes a no-op deploy a no-op.
"""

from __future__ import annotations

import base64
from typing import Any

from duelctl.deploy.aws import Aws, aws_errors, error_code
from duelctl.deploy.errors import BucketError

MANAGED_PREFIX = "duelctl-artifacts"


def managed_bucket_name(account: str, region: str) -> str:
    """`duelctl-artifacts-{account}-{region}`: one per account and region, like SAM's."""
    return f"{MANAGED_PREFIX}-{account}-{region}"


def _bucket_region(location: Any) -> str:
    # AWS: GetBucketLocation returns null for us-east-1 and "EU" for old eu-west-1
    # buckets (S3 API reference, GetBucketLocation).
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else str(location)


def check_bucket(aws: Aws, s3: Any, bucket: str) -> None:
    """Fail with a one-line BucketError unless `bucket` is ours and in the deploy region.

    AWS: Lambda reads the code zip from a bucket in the function's own region
    (Lambda API reference, CreateFunction, S3Bucket).
    """
    from botocore.exceptions import ClientError, ParamValidationError

    try:
        with aws_errors(f"checking S3 bucket {bucket!r}"):
            try:
                s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=aws.account)
            except ClientError as exc:
                code = error_code(exc)
                if code in ("404", "NoSuchBucket"):
                    raise BucketError(
                        f"S3 bucket {bucket!r} does not exist; create it in {aws.region} "
                        f"(`aws s3 mb s3://{bucket} --region {aws.region}`) or use --resolve-s3"
                    ) from None
                if code in ("403", "AccessDenied"):
                    raise BucketError(
                        f"S3 bucket {bucket!r} is not accessible to {aws.caller_arn or 'you'} "
                        f"(403: owned by another account, or a policy denies it)"
                    ) from None
                raise
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ParamValidationError as exc:
        raise BucketError(f"{bucket!r} is not a valid S3 bucket name ({exc})") from None
    region = _bucket_region(location)
    if region != aws.region:
        raise BucketError(
            f"S3 bucket {bucket!r} is in {region} but the stack deploys to {aws.region}; "
            "Lambda needs its code in the same region: pass --region or another bucket"
        )


def managed_bucket_exists(aws: Aws, s3: Any) -> bool:
    """Whether this account's managed bucket for the region exists (and is ours)."""
    from botocore.exceptions import ClientError

    name = managed_bucket_name(aws.account, aws.region)
    with aws_errors(f"finding S3 bucket {name!r}"):
        try:
            s3.head_bucket(Bucket=name, ExpectedBucketOwner=aws.account)
            return True
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket"):
                return False
            if error_code(exc) in ("403", "AccessDenied"):
                raise BucketError(
                    f"S3 bucket {name!r} exists but is not accessible to "
                    f"{aws.caller_arn or 'you'} (403); pass --s3-bucket instead"
                ) from None
            raise


def create_managed_bucket(aws: Aws, s3: Any) -> str:
    """Create the managed bucket: private, tagged; returns its name."""
    name = managed_bucket_name(aws.account, aws.region)
    with aws_errors(f"creating S3 bucket {name!r}"):
        # AWS: us-east-1 takes no LocationConstraint (S3 API reference, CreateBucket).
        if aws.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region}
            )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": "managed-by", "Value": "duelctl"}]}
        )
    return name


def upload(s3: Any, bucket: str, key: str, data: bytes, sha256_hex: str) -> bool:
    """Put `data` at `key` unless it is already there; True when it was uploaded.

    S3 checks the SHA-256 sent with the object and refuses a corrupted upload.
    """
    from botocore.exceptions import ClientError

    with aws_errors(f"uploading s3://{bucket}/{key}"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return False
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchKey", "403"):
                raise
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="application/zip" if key.endswith(".zip") else "application/json",
            ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
        )
    return True


def object_url(bucket: str, region: str, key: str) -> str:
    """The https URL CloudFormation's TemplateURL takes for an S3 object."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
