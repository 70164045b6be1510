"""A real S3-compatible server for the tests: moto's `moto_server`, on loopback, checking credentials.

`MotoS3.start(work_dir)` runs it at a free port with its log in `work_dir`, creates an IAM user
(the first few calls are unauthenticated, then every request must be signed by a known key) and
returns the server; `stop()` ends it. `env()` gives the variables a Nodal server needs to use a
bucket there as its blob store.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BOOTSTRAP_CALLS = 3  # create_user, put_user_policy, create_access_key: unauthenticated


@dataclass
class MotoS3:
    proc: subprocess.Popen
    endpoint: str
    key_id: str
    key_secret: str
    log_path: Path

    @classmethod
    def start(cls, work_dir: Path) -> MotoS3:
        import boto3
        from conftest import _wait_until

        work_dir.mkdir(parents=True, exist_ok=True)
        log_path = work_dir / "moto.log"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_BOOTSTRAP_CALLS))
        moto = Path(sys.executable).parent / "moto_server"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", "0"], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            found = _wait_until(lambda: re.search(r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text()),
                                30, "moto_server to listen")
            endpoint = found.group(1)
            iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
            iam.create_user(UserName="nodal-blobs")
            iam.put_user_policy(UserName="nodal-blobs", PolicyName="all", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="nodal-blobs")["AccessKey"]
        except BaseException:
            proc.kill()
            proc.wait(10)
            raise
        return cls(proc, endpoint, key["AccessKeyId"], key["SecretAccessKey"], log_path)

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.key_secret)

    def env(self, url: str) -> dict[str, str]:
        """The environment of a Nodal server whose blob store is `url` (s3://...) on this server."""
        return {"NODAL_BLOB_URL": url, "NODAL_S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key_id,
                "AWS_SECRET_ACCESS_KEY": self.key_secret, "AWS_DEFAULT_REGION": "us-east-1"}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
