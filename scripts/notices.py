#!/usr/bin/env python3
"""Licence notices of everything bundled into the Ebb binaries: the Rust crates the app and the
CLI link (normal dependencies, this platform) and the npm packages compiled into the UI. Writes
JSON for the About dialog (embedded by the app's build script) and a plain-text copy for the
.deb. Usage: notices.py OUT.json [OUT.txt]. Reads only local files (cargo --offline).
`notices.py --check FILE.json` fails unless every package may be shipped under a licence on the
list below (what `cargo deny check licenses` would do, offline)."""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOTS = ("ebb-app", "ebb-cli")
# Compiled into the UI bundle besides the UI's runtime dependencies.
UI_BUNDLED = ("svelte",)
LICENCE_FILES = ("LICENSE*", "LICENCE*", "COPYING*", "NOTICE*", "COPYRIGHT*", "UNLICENSE*")


# Permissive licences, and MPL-2.0 (file-level copyleft: shipping unmodified files is fine).
# CDLA-Permissive-2.0 is a permissive data licence (webpki-roots' CA list, which the Hugging
# Face download client brings): it asks for its text alongside, which the notices carry.
ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "0BSD",
    "Unicode-3.0", "Unicode-DFS-2016", "MPL-2.0", "CC0-1.0", "Unlicense", "BSL-1.0",
    "BlueOak-1.0.0", "OpenSSL", "CDLA-Permissive-2.0",
}


def allowed(expression):
    """Whether an SPDX expression (also the old "MIT/Apache-2.0" form) allows shipping."""
    text = re.sub(r"(\S+) WITH \S+", r"\1", expression).replace("/", " OR ")
    tokens = re.findall(r"\(|\)|[^\s()]+", text)
    words = []
    for t in tokens:
        if t in ("(", ")"):
            words.append(t)
        elif t in ("OR", "AND"):
            words.append(t.lower())
        else:
            words.append(str(t in ALLOWED))
    try:
        return bool(eval(" ".join(words), {"__builtins__": {}}))  # only True/False/and/or
    except SyntaxError:
        return False


def check(path):
    with open(path) as f:
        packages = json.load(f)["packages"]
    refused = [p for p in packages if not allowed(p["licence"])]
    for p in refused:
        print(f"{p['name']} {p['version']} ({p['kind']}): licence {p['licence']!r} is not on the list")
    if refused:
        sys.exit(f"{len(refused)} of {len(packages)} bundled packages need a licence review")
    print(f"all {len(packages)} bundled packages have an allowed licence")


def licence_texts(folder):
    texts = []
    for pattern in LICENCE_FILES:
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    texts.append(f.read().strip())
    return texts


def rust_packages():
    host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    target = next(l.split(": ", 1)[1] for l in host.splitlines() if l.startswith("host: "))
    run = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline", "--locked",
         "--filter-platform", target],
        cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"cargo metadata (offline) failed: {run.stderr.strip()}\n"
                 "The crates must be downloaded first: run `cargo fetch --locked`.")
    meta = json.loads(run.stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    todo = [p["id"] for p in meta["packages"] if p["name"] in ROOTS]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            # Build scripts and proc macros run at build time; only what is linked is bundled.
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    for pid in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        if p["source"] is None:
            continue  # Ebb's own crates
        if any("proc-macro" in t["kind"] for t in p["targets"]):
            continue  # runs in the compiler, not shipped
        yield {
            "name": p["name"],
            "version": p["version"],
            "licence": p.get("license") or "see its licence file",
            "url": p.get("repository") or p.get("homepage") or "",
            "kind": "crate",
        }, licence_texts(os.path.dirname(p["manifest_path"]))


def npm_packages():
    ui = os.path.join(ROOT, "ui")
    with open(os.path.join(ui, "package.json")) as f:
        names = list(json.load(f).get("dependencies", {})) + list(UI_BUNDLED)
    for name in sorted(set(names)):
        folder = os.path.join(ui, "node_modules", name)
        with open(os.path.join(folder, "package.json")) as f:
            pkg = json.load(f)
        repo = pkg.get("repository")
        url = repo.get("url", "") if isinstance(repo, dict) else (repo or pkg.get("homepage", ""))
        yield {
            "name": name,
            "version": pkg.get("version", ""),
            "licence": pkg.get("license") or "see its licence file",
            "url": url,
            "kind": "npm",
        }, licence_texts(folder)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    if len(sys.argv) < 2:
        sys.exit("usage: notices.py OUT.json [OUT.txt]")
    texts, index, entries = [], {}, []
    for entry, found in list(rust_packages()) + list(npm_packages()):
        refs = []
        for text in found:
            key = hashlib.sha256(text.encode()).hexdigest()
            if key not in index:
                index[key] = len(texts)
                texts.append(text)
            refs.append(index[key])
        entry["texts"] = refs
        entries.append(entry)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    with open(sys.argv[1], "w") as f:
        json.dump({"packages": entries, "texts": texts}, f, separators=(",", ":"))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("Ebb bundles the following software. Their licence notices follow.\n\n")
            for e in entries:
                f.write(f"{'=' * 72}\n{e['name']} {e['version']} ({e['kind']}) — {e['licence']}\n")
                if e["url"]:
                    f.write(f"{e['url']}\n")
                for i in e["texts"]:
                    f.write(f"\n{texts[i]}\n")
                f.write("\n")
    print(f"{len(entries)} packages, {len(texts)} distinct licence texts -> {sys.argv[1]}")


main()
