"""The container image: hadolint on the Dockerfile, and the runtime stage's packages
held to what the binary really loads.

The ldd check runs on this Debian 12 machine, the same release as both Dockerfile
stages, so dpkg here knows which package ships each library the image will need.
The binary checked, cheapest first:
  - ESTEIRA_DEPLOY_RELEASE_BUILD=1: builds the release binary the Dockerfile builds
    (`swift build -c release --static-swift-stdlib --product esteira`);
  - else .build/release/esteira, when it exists and is newer than the sources;
  - else .build/debug/esteira (what `make test` has just built). A debug binary also
    loads the Swift runtime from the toolchain, which the release image links
    statically; those libraries are set aside and the C libraries are the same.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import DOCKERFILE, ROOT, tool

SWIFT_TOOLCHAIN_LIBS = "/usr/lib/swift/"  # part of any toolchain's runtime path


def dockerfile_stages() -> list[dict]:
    """Each stage: its FROM line and its RUN commands, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append({"from": line, "runs": []})
        elif line.startswith("RUN ") and stages:
            stages[-1]["runs"].append(line[4:])
    return stages


def apt_installed_by(stage: dict) -> list[str]:
    """Package names of the stage's `apt-get install` commands."""
    packages = []
    for run in stage["runs"]:
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


def runtime_packages() -> list[str]:
    return apt_installed_by(dockerfile_stages()[-1])


def dpkg_status(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package],
                         capture_output=True, text=True)
    return out.stdout.strip()


def dependency_closure(roots: list[str]) -> set[str]:
    """The packages apt would install for `roots`: their Pre-Depends and Depends,
    recursively, as recorded by dpkg on this machine (all of them are installed here,
    since the binary was linked against them). For `a | b`, the first alternative
    installed here, as apt would pick on the same release."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        out = subprocess.run(["dpkg-query", "-W", "-f=${Pre-Depends}, ${Depends}", package],
                             capture_output=True, text=True)
        for clause in out.stdout.split(","):
            names = [re.split(r"[\s(:]", alt.strip())[0] for alt in clause.split("|") if alt.strip()]
            if not names:
                continue
            if any(n in seen for n in names):
                continue
            todo.append(next((n for n in names if dpkg_status(n) == "installed"), names[0]))
    return seen


def packages_of(libraries: list[Path]) -> dict[Path, str | None]:
    """The Debian package shipping each library, from one `dpkg -S` call (dpkg reads
    its whole file database per call). ldd prints /lib paths while dpkg may have
    recorded /usr/lib ones (merged /usr), and sonames are symlinks: each spelling is
    asked for."""
    spellings: dict[str, Path] = {}
    for library in libraries:
        for path in (str(library), os.path.realpath(library)):
            for spelling in (path, path[4:] if path.startswith("/usr/") else "/usr" + path):
                spellings.setdefault(spelling, library)
    # Exit status 1 just means some spellings are unknown, which is expected.
    out = subprocess.run(["dpkg", "-S", *spellings], capture_output=True, text=True).stdout
    found: dict[Path, str | None] = {library: None for library in libraries}
    for line in out.splitlines():
        owner, _, path = line.partition(": ")
        if path in spellings and found[spellings[path]] is None:
            # "libfoo1:amd64" (or "a, b" for a diverted file: the first is the owner)
            found[spellings[path]] = owner.split(",")[0].split(":")[0].strip()
    return found


def linked_libraries(binary: Path) -> dict[str, Path]:
    """soname -> resolved path, for every library the dynamic loader would load."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)\s+\(", line)
        if m:
            libs[m.group(1)] = Path(m.group(2))
        elif "not found" in line:
            pytest.fail(f"ldd cannot resolve a library of {binary}: {line.strip()}")
    return libs


def newest_source_mtime() -> float:
    files = [ROOT / "Package.swift", *(ROOT / "Sources").rglob("*")]
    return max(f.stat().st_mtime for f in files if f.is_file())


def binary_under_test() -> tuple[Path, bool]:
    """(binary, is_release_with_static_stdlib)."""
    if os.environ.get("ESTEIRA_DEPLOY_RELEASE_BUILD") == "1":
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "esteira"],
                       cwd=ROOT, check=True)
        return ROOT / ".build" / "release" / "esteira", True
    release = ROOT / ".build" / "release" / "esteira"
    if release.exists() and release.stat().st_mtime >= newest_source_mtime():
        return release, True
    debug = ROOT / ".build" / "debug" / "esteira"
    if not debug.exists():
        subprocess.run(["swift", "build", "--product", "esteira"], cwd=ROOT, check=True)
    return debug, False


# --- hadolint -------------------------------------------------------------------------

def test_hadolint_has_nothing_to_say():
    # Default threshold: any finding, down to style and info, fails. The Dockerfile's
    # two inline ignores (DL3008, unpinned apt versions) carry their reason.
    out = subprocess.run([tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_dockerfile_shape():
    stages = dockerfile_stages()
    assert len(stages) == 2
    build, runtime = (s["from"] for s in stages)
    # Both stages on the release this machine runs, so the ldd check below speaks for the image.
    assert "bookworm" in build and "debian:bookworm-slim" in runtime
    codename = re.search(r"VERSION_CODENAME=(\w+)", Path("/etc/os-release").read_text())
    assert codename and codename.group(1) == "bookworm"
    text = DOCKERFILE.read_text()
    assert "--static-swift-stdlib" in text and "--product esteira" in text
    assert re.search(r"^USER \d+:\d+$", text, re.M), "numeric non-root USER"
    for label in ("title", "description", "source", "version", "revision", "created"):
        assert f"org.opencontainers.image.{label}=" in text, label


# --- Build context -------------------------------------------------------------------

def dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    """(is_exception, regex) per line of docker/Dockerfile.dockerignore. As in Docker,
    `*` and `?` stay within one path segment, `**` crosses them, and a rule that
    matches a folder covers what is inside it."""
    rules = []
    for line in (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        rules.append((exception, re.compile(regex + "(/.*)?")))
    return rules


def in_context(relative: str, rules) -> bool:
    """Docker's rule: the last matching line decides."""
    included = True
    for exception, regex in rules:
        if regex.fullmatch(relative):
            included = exception
    return included


def test_build_context_holds_what_the_build_needs(tmp_path):
    """The context the .dockerignore lets through (copied here as BuildKit would send
    it) has everything the Dockerfile COPYs, keeps .build/ and .local/ out, and its
    manifest loads: SwiftPM finds a folder for every declared target."""
    rules = dockerignore_rules()
    context = tmp_path / "context"
    for top in sorted(ROOT.iterdir()):
        # Only walk top-level entries some rule can let in (not .build/, .git/).
        if not (in_context(top.name, rules) or any(e and r.pattern.startswith(re.escape(top.name)) for e, r in rules)):
            continue
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and in_context(relative, rules):
                target = context / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    for excluded in (".build", ".local", ".git", "docker", "helm"):
        assert not (context / excluded).exists(), f"{excluded}/ must stay out of the build context"
    build_stage = DOCKERFILE.read_text().split("AS runtime")[0]
    for source in re.findall(r"^COPY\s+(?!--from)(\S+)\s", build_stage, re.M):
        assert list(context.glob(source)), f"COPY {source}: not in the build context"
    out = subprocess.run(["swift", "package", "--scratch-path", str(tmp_path / "scratch"),
                          "--disable-automatic-resolution", "describe"],
                         cwd=context, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# --- Runtime libraries ---------------------------------------------------------------

@pytest.fixture(scope="module")
def linked():
    if not Path("/usr/bin/dpkg").exists():
        pytest.skip("needs a Debian machine (dpkg) to map libraries to packages")
    binary, release = binary_under_test()
    libs = linked_libraries(binary)
    if release:
        swift = [s for s, p in libs.items() if SWIFT_TOOLCHAIN_LIBS in str(p)]
        assert not swift, f"--static-swift-stdlib left Swift runtime libraries dynamic: {swift}"
    else:
        libs = {s: p for s, p in libs.items() if SWIFT_TOOLCHAIN_LIBS not in str(p)}
    return binary, libs


def test_runtime_stage_provides_every_linked_library(linked):
    binary, libs = linked
    provided = dependency_closure(runtime_packages())
    owners = packages_of(list(libs.values()))
    missing, unknown = {}, []
    for soname, path in sorted(libs.items()):
        package = owners[path]
        if package is None:
            unknown.append(f"{soname} ({path})")
        elif package not in provided:
            missing[soname] = package
    assert not unknown, f"no Debian package ships {unknown}: the image could not provide them"
    assert not missing, (f"{binary} loads libraries from packages the runtime stage does not install "
                         f"(add them to docker/Dockerfile): {missing}")


def test_runtime_stage_installs_nothing_unneeded(linked):
    """Each runtime package ships a library the binary loads, directly or through the
    libraries it loads; ca-certificates is data (the TLS trust store), not a library."""
    _, libs = linked
    loaded = set(packages_of(list(libs.values())).values())
    unneeded = [p for p in runtime_packages() if p != "ca-certificates" and p not in loaded]
    assert not unneeded, f"the runtime stage installs packages the binary never loads: {unneeded}"


def test_core_libraries_are_linked(linked):
    """The four C libraries behind the shims are really there (the check above would
    pass vacuously on a binary that linked nothing)."""
    _, libs = linked
    for soname in ("libcurl.so.4", "libmariadb.so.3", "libcrypto.so.3", "libz.so.1"):
        assert soname in libs, f"{soname} not linked"
