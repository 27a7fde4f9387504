"""The Prometheus configuration and alert rules in deploy/prometheus: valid for promtool, each
alert tested on series that should and should not fire it (`promtool test rules`), and every
metric they ask for one that svckit's code exports."""
import pathlib
import re
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"


def promtool(*args):
    return subprocess.run(["promtool", *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60)


def test_the_configuration_and_rules_are_valid():
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "rules/svckit.yml"]):
        r = promtool(*args)
        assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_fires_when_it_should_and_only_then():
    r = promtool("test", "rules", "tests/svckit_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    rules = yaml.safe_load((DEPLOY / "rules/svckit.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "tests/svckit_test.yml").read_text()))
    assert alerts == tested  # none without a test


def test_the_rules_ask_for_metrics_svckit_exports():
    code = "\n".join(p.read_text(errors="replace") for d in ("src", "services")
                     for p in (ROOT / d).rglob("*.cpp"))
    exported = set(re.findall(r'"([a-z_]+)"', code))
    rules = yaml.safe_load((DEPLOY / "rules/svckit.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = set(re.findall(r"\b([a-z_]+_(?:total|seconds_bucket|seconds|depth|connected|up|"
                                   r"waiting|rolled_back))\b", rule["expr"]))
            for name in names - {"up"}:
                base = name.removesuffix("_bucket")
                assert base in exported, f"{rule['alert']}: {name} is not a metric svckit exports"
