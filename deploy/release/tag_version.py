"""Check a release tag against the package it releases, for the publish workflows.

A tag ``pmproxy-v1.2.3`` releases ``pmproxy`` version ``1.2.3``: the version in
``pmproxy/pyproject.toml`` must say exactly that, or the release stops before anything is
built. On success the script prints ``package=…`` and ``version=…`` lines, ready to append to
``$GITHUB_OUTPUT``.

    python deploy/release/tag_version.py pmproxy-v1.2.3 --package pmproxy
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pmtrader", "pmproxy", "pmengine", "pmstrat")
# PEP 440 public versions as we tag them: 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev4.
_TAG = re.compile(
    r"^(?P<package>[a-z]+)-v(?P<version>\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?)$"
)


class TagError(ValueError):
    """The tag does not name a package and a version that this checkout holds."""


def check(tag: str, package: str, repo: Path = REPO) -> str:
    """Return the version ``tag`` releases, after checking it against ``package``'s metadata.

    Raises:
        TagError: The tag is malformed, names another package, or its version differs from
            the one in the package's ``pyproject.toml``.
    """
    found = _TAG.fullmatch(tag)
    if found is None:
        raise TagError(
            f"tag {tag!r} is not of the form <package>-v<version> (e.g. {package}-v1.2.3)"
        )
    if found["package"] != package:
        raise TagError(f"tag {tag!r} releases {found['package']}, not {package}")
    with (repo / package / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["project"]["version"]
    if declared != found["version"]:
        raise TagError(
            f"tag {tag!r} says {found['version']} but {package}/pyproject.toml says "
            f"{declared}: bump the version in a commit, then tag that commit"
        )
    return str(declared)


def main(argv: list[str] | None = None) -> int:
    """Check the tag; print ``package=`` and ``version=`` lines, or the reason on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="the git tag, e.g. pmproxy-v1.2.3 ($GITHUB_REF_NAME)")
    parser.add_argument("--package", required=True, choices=PACKAGES)
    args = parser.parse_args(argv)
    try:
        version = check(args.tag, args.package)
    except TagError as exc:
        print(f"tag_version: {exc}", file=sys.stderr)
        return 1
    print(f"package={args.package}")
    print(f"version={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
