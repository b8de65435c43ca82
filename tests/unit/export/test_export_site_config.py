"""config.json for the exported page: the export writes a placeholder the page refuses
clearly, ``site-config`` fills it in (from values or from the deployed stack, moto), and
what Python writes is what the page's own parser (aws.js, in node) accepts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.aws.node import run_js, value

from hubbub.config import Config
from hubbub.errors import ConfigError
from hubbub.export.site_config import PLACEHOLDER, from_stack, site_config
from hubbub.export_cli import export_command, main, site_config_command

POOL = "us-east-1:0a1b2c3d-0000-4000-8000-00000000abcd"
ENDPOINT = "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    assert export_command(Config(), "sam", tmp_path / "template.json",
                          stdout=io.StringIO()) == 0
    return tmp_path / "site"


def test_the_export_writes_a_placeholder_the_page_refuses(site: Path) -> None:
    raw = json.loads((site / "config.json").read_text())
    assert raw == PLACEHOLDER
    (result,) = run_js(("parseSiteConfig", [raw]))
    assert result["error"]["type"] == "ConfigError"
    assert "not filled in" in result["error"]["message"]


def test_the_shipped_config_means_hubbub() -> None:
    from hubbub.app import load_app

    app = load_app()
    assert app.static is not None
    raw = json.loads((app.static / "config.json").read_text())
    (result,) = run_js(("parseSiteConfig", [raw]))
    assert value(result) is None  # POST /api/credentials, as before


def test_site_config_command_with_values(site: Path) -> None:
    out = io.StringIO()
    assert site_config_command(site, region="us-east-1", identity_pool_id=POOL,
                               iot_endpoint=ENDPOINT.upper(), stdout=out) == 0
    raw = json.loads((site / "config.json").read_text())
    assert raw == {"provider": "aws", "region": "us-east-1", "identityPoolId": POOL,
                   "iotEndpoint": ENDPOINT}
    (result,) = run_js(("parseSiteConfig", [raw]))
    assert value(result) == raw
    assert ENDPOINT in out.getvalue()
    assert not list(site.glob(".config.json*"))  # no temporary file left behind


@pytest.mark.parametrize(("args", "message"), [
    (("eu-west-1", POOL, ENDPOINT), "is not 'eu-west-1:<uuid>'"),
    (("us-east", POOL, ENDPOINT), "not an AWS region"),
    (("us-east-1", "us-east-1:nope", ENDPOINT), "identity pool id"),
    (("us-east-1", POOL, "wss://x/mqtt"), "not a host name"),
    (("us-east-1", POOL, "a" * 64 + ".example"), "not a host name"),
    (("us-east-1", POOL, ""), "not a host name"),
])
def test_bad_values_are_refused_by_both(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        site_config(*args)
    region, pool, endpoint = args
    (result,) = run_js(("parseSiteConfig", [{"provider": "aws", "region": region,
                                              "identityPoolId": pool,
                                              "iotEndpoint": endpoint}]))
    assert result["error"]["type"] == "ConfigError"


def stubbed_cloudformation(aws: Any, *responses: dict[str, Any] | str) -> Any:
    """``aws`` (moto) for IoT, and a CloudFormation client whose DescribeStacks answers come
    from botocore's Stubber, which checks them against the service model (moto's
    CloudFormation needs extras this venv does not have)."""
    from botocore.stub import Stubber

    cfn = aws("cloudformation")
    stubber = Stubber(cfn)
    for r in responses:
        if isinstance(r, str):
            stubber.add_client_error("describe_stacks", service_error_code="ValidationError",
                                     service_message=r, http_status_code=400)
        else:
            stubber.add_response("describe_stacks", r, {"StackName": r["Stacks"][0]["StackName"]})
    stubber.activate()
    return lambda service, **kw: cfn if service == "cloudformation" else aws(service, **kw)


def stack(name: str, **outputs: str) -> dict[str, Any]:
    return {"Stacks": [{"StackName": name, "CreationTime": "2026-11-27T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v}
                                    for k, v in outputs.items()]}]}


def test_from_a_deployed_stack(aws: Any) -> None:
    client = stubbed_cloudformation(aws, stack("chat", IdentityPoolId=POOL, SiteBucket="b"))
    config = from_stack("chat", client)
    # moto makes up a new account prefix on every DescribeEndpoint
    assert config["iotEndpoint"].endswith("-ats.iot.us-east-1.amazonaws.com")
    assert config == {"provider": "aws", "region": "us-east-1", "identityPoolId": POOL,
                      "iotEndpoint": config["iotEndpoint"]}
    (result,) = run_js(("parseSiteConfig", [dict(config)]))
    assert value(result) == config


def test_stack_errors(aws: Any) -> None:
    client = stubbed_cloudformation(aws, "Stack with id nope does not exist", stack("bare"))
    with pytest.raises(ConfigError, match="stack 'nope'.*does not exist"):
        from_stack("nope", client)
    with pytest.raises(ConfigError, match="no IdentityPoolId output"):
        from_stack("bare", client)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stack": "s", "region": "us-east-1"}, "not both"),
    ({"region": "us-east-1", "identity_pool_id": POOL}, "give --stack, or all of"),
    ({}, "give --stack, or all of"),
])
def test_command_usage_errors(site: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        site_config_command(site, **kwargs)
    assert json.loads((site / "config.json").read_text()) == PLACEHOLDER


def test_not_an_exported_site(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an exported site"):
        site_config_command(tmp_path, region="us-east-1", identity_pool_id=POOL,
                            iot_endpoint=ENDPOINT)


def test_main(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["site-config", "--site", str(site), "--region", "us-east-1",
                 "--identity-pool-id", POOL, "--iot-endpoint", ENDPOINT]) == 0
    assert json.loads((site / "config.json").read_text())["iotEndpoint"] == ENDPOINT
    assert main(["site-config", "--site", str(site), "--region", "nowhere",
                 "--identity-pool-id", POOL, "--iot-endpoint", ENDPOINT]) == 2
    assert "not an AWS region" in capsys.readouterr().err


def test_an_apps_own_config_json_is_not_overwritten(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "web").mkdir(parents=True)
    (app / "web" / "index.html").write_text("<!doctype html>")
    (app / "web" / "config.json").write_text('{"theme": "dark"}')
    (app / "hubbub.json").write_text(json.dumps({"name": "x", "static": "web"}))
    with pytest.raises(ConfigError, match="rename it"):
        export_command(Config(app=app), "sam", tmp_path / "out" / "t.json",
                       stdout=io.StringIO())
    assert (app / "web" / "config.json").read_text() == '{"theme": "dark"}'


def test_the_export_says_what_comes_next(tmp_path: Path) -> None:
    out = io.StringIO()
    export_command(Config(), "sam", tmp_path / "t.json", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert "sam deploy" in lines[1]
    assert "site-config" in lines[2] and "s3 sync" in lines[3]  # configure, then upload


def test_python_dash_m(site: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "hubbub.export_cli", "site-config",
                           "--site", str(site), "--region", "us-east-1",
                           "--identity-pool-id", POOL, "--iot-endpoint", ENDPOINT],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((site / "config.json").read_text())["identityPoolId"] == POOL
    bad = subprocess.run([sys.executable, "-m", "hubbub.export_cli", "site-config",
                          "--site", str(site)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 2
    assert "give --stack, or all of" in bad.stderr


def test_the_hubbub_command_runs_site_config(site: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from hubbub.cli import main as hubbub_main

    assert hubbub_main(["export", "site-config", "--site", str(site), "--region", "us-east-1",
                        "--identity-pool-id", POOL, "--iot-endpoint", ENDPOINT]) == 0
    assert json.loads((site / "config.json").read_text())["identityPoolId"] == POOL
    assert hubbub_main(["export", "site-config", "--site", str(site),
                        "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "give --stack, or all of" in err and "Traceback" not in err
