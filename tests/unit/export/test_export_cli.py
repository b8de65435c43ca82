"""``export_command``: the template, the functions' code and the site, written together."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hubbub.app import load_app
from hubbub.config import Config
from hubbub.errors import ConfigError
from hubbub.export.package import MARKER, requirements
from hubbub.export_cli import export_command


def test_export_writes_template_code_and_site(tmp_path: Path) -> None:
    out = io.StringIO()
    assert export_command(Config(extra={"pageLimit": 20}), "sam", tmp_path / "t.json",
                          stdout=out) == 0
    template = json.loads((tmp_path / "t.json").read_text())
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert json.loads(env["HUBBUB_SETTINGS"]) == {"pageLimit": 20}
    code = tmp_path / template["Globals"]["Function"]["CodeUri"]
    assert (code / "hubbub" / "aws" / "entry.py").is_file()  # the handler the template names
    staged = load_app(code / env["HUBBUB_APP_DIR"])  # the packaged manifest loads
    assert set(staged.functions) == set(load_app().functions)
    for spec in staged.functions.values():  # every handler's module is in the package
        module = spec.handler.partition(":")[0].replace(".", "/")
        assert (staged.root / f"{module}.py").is_file()
    assert not (code / "app" / "web").exists()  # the site goes to S3, not into Lambda
    assert not list(code.rglob("__pycache__"))
    assert not (code / "hubbub" / "apps").exists()  # built-in apps stay out of Lambda
    assert (code / "requirements.txt").read_text().split() == requirements()
    assert (tmp_path / "site" / "index.html").is_file()
    assert "sam deploy" in out.getvalue()
    # Exporting again replaces what it made.
    assert export_command(Config(), "sam", tmp_path / "t.yaml", stdout=io.StringIO()) == 0
    assert (tmp_path / "t.yaml").read_text().startswith("AWSTemplateFormatVersion")


def test_export_refuses_to_replace_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "lambda").mkdir()
    (tmp_path / "lambda" / "precious.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not made by hubbub export"):
        export_command(Config(), "sam", tmp_path / "t.json", stdout=io.StringIO())
    assert (tmp_path / "lambda" / "precious.txt").read_text() == "mine"
    assert not (tmp_path / "t.json").exists()
    assert not (tmp_path / "lambda" / MARKER).exists()


def test_export_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown export format"):
        export_command(Config(), "terraform", tmp_path / "t.json")
    with pytest.raises(ConfigError, match="not a hubbub application"):
        export_command(Config(app=tmp_path), "sam", tmp_path / "t.json")
    (tmp_path / "hubbub.json").write_text('{"name": "x", "functions": {"f.g": {"handler": "a:b"}}}')
    with pytest.raises(ConfigError, match="on AWS a function"):
        export_command(Config(app=tmp_path), "sam", tmp_path / "out" / "t.json")
    assert not (tmp_path / "out").exists()  # nothing written for a manifest AWS refuses


LAMBDA = """
import json, os, sys
import boto3, moto
import hubbub
assert hubbub.__file__.startswith(os.getcwd()), hubbub.__file__  # the packaged copy
with moto.mock_aws():
    ddb = boto3.client("dynamodb")
    for name, pk, sk in [("chat", "room", "id"), ("reactions", "room", "messageId")]:
        ddb.create_table(TableName="stack-" + name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": pk, "KeyType": "HASH"},
                                    {"AttributeName": sk, "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": pk, "AttributeType": "S"},
                                               {"AttributeName": sk, "AttributeType": "S"}])
    ddb.put_item(TableName="stack-chat", Item={
        "room": {"S": "lobby"}, "id": {"S": "1-a"}, "type": {"S": "message"},
        "text": {"S": "hi"}, "expiresAt": {"N": "4000000000"}})
    module, _, attr = os.environ["HANDLER"].rpartition(".")
    handler = getattr(__import__(module, fromlist=[attr]), attr)
    out = handler({"pathParameters": {"room": "lobby"}}, None)
    print(json.dumps(out))
"""


def test_the_package_runs_on_its_own(tmp_path: Path) -> None:
    """The staged lambda/ folder, first on the path as in Lambda's /var/task, runs a
    function with the handler and environment the template names."""
    import os
    import subprocess
    import sys

    pytest.importorskip("moto")
    export_command(Config(), "sam", tmp_path / "t.json", stdout=io.StringIO())
    template = json.loads((tmp_path / "t.json").read_text())
    glob = template["Globals"]["Function"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBBUB_", "AWS_"))}
    env.update(HANDLER=glob["Handler"], PYTHONPATH=str(tmp_path / "lambda"),
               LAMBDA_TASK_ROOT=str(tmp_path / "lambda"), HUBBUB_FUNCTION="history",
               HUBBUB_APP_DIR=glob["Environment"]["Variables"]["HUBBUB_APP_DIR"],
               HUBBUB_TABLES='{"chat": "stack-chat", "reactions": "stack-reactions"}',
               AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    done = subprocess.run([sys.executable, "-c", LAMBDA], cwd=tmp_path / "lambda", env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200
    assert [m["text"] for m in json.loads(response["body"])["messages"]] == ["hi"]
