#!/usr/bin/env python3
"""Runs every shell example of one Markdown page (README.md or docs/*.md), so the docs cannot rot.

Usage: doc_test.py --chimera EXE --binary-dir DIR PAGE.md     (ctest: docs.<page>)

What runs: every fenced block tagged sh, bash, shell or console, in page order, each as one bash
script (`set -eo pipefail`) in a fresh working folder per page, so later blocks see what earlier ones
made. In a console block the lines starting with "$ " (and their "\\" continuations) are the
commands; the other lines are the output shown, and each of its "label: ..." lines must still appear
(same label at the start of a line) in what the commands print, so an excerpt whose format changed
fails.

The machine the examples meet is a new user's, offline, with a small synthesized model standing in
for real ones:
  - HOME is a fresh folder (so ~/.config/chimera, ~/.cache/chimera, ~/.local/share/chimera start
    empty); `chimera` on PATH is the build's binary; no CHIMERA_* or OLLAMA_* variable is inherited;
  - the local Ollama store ~/.ollama/models holds gemma3:latest, gemma3:1b and llama3.2:1b, which
    are tiny dummy-weight GGUFs (`chimera model synth --size tiny --ctx 32768`);
  - port 11434 (Ollama's) in a command is replaced by a free port, and OLLAMA_HOST points there, so
    a `chimera serve` started by an example is what the next example finds; "build/release" is
    replaced by the build folder that runs the test, and "/usr/share/chimera" (where the Debian
    package puts the shipped files) by the folder the binary under test reads them from.

Markers, in an HTML comment on the line(s) just before a block, separated by ';':
  <!-- doctest: skip: REASON -->   not run (needs a real server, a GPU, the network, root...); the
                                   reason (the rest of the comment) is required and printed
  <!-- doctest: file: PATH -->     a non-shell block (TOML, JSON, CSV) written to PATH in the
                                   working folder, for the examples after it to use
  <!-- doctest: exit: N -->        the block must exit with N (default 0)
  <!-- doctest: background; wait-port: 11434 -->
                                   started and left running (a server); the next block starts once
                                   the port accepts connections; stopped when the page is done
  <!-- doctest: timeout: SECONDS --> longest a block may take (default 300)
  <!-- doctest: stand-in: MODEL@[HOST:]PORT ... -->
                                   the block talks to servers the test machine does not have (a
                                   user's Ollama, vLLM, llama.cpp): for each HOST:PORT, a real
                                   `chimera serve` is started on a free loopback port, serving the
                                   tiny gemma3 model under every MODEL name given for it, the
                                   block's HOST:PORT is rewritten to it, and it is stopped after
                                   the block. The block runs against a real server speaking the
                                   same HTTP APIs; only the model behind the name differs.

A skipped block is printed with its reason in the test's output; skips are for what cannot run in
a test at all (installing packages, root, the fuzz preset).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

RUN_LANGS = {"sh", "bash", "shell", "console"}
KNOWN = {"skip", "file", "exit", "background", "wait-port", "timeout", "stand-in"}


class Block:
    def __init__(self, page, line, lang, text, directives):
        self.page, self.line, self.lang, self.text, self.directives = page, line, lang, text, directives

    def where(self):
        return f"{os.path.basename(self.page)}:{self.line}"


def parse_directives(comment, where):
    directives = {}
    # A skip reason is free text (it may hold ';'): everything after "skip:".
    head, found, reason = comment.partition("skip:")
    if found:
        directives["skip"] = reason.strip()
        comment = head
    for part in comment.split(";"):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition(":")
        key, value = key.strip(), value.strip()
        if key not in KNOWN:
            raise SystemExit(f"{where}: unknown doctest marker '{key}' (known: {', '.join(sorted(KNOWN))})")
        directives[key] = value
    if "skip" in directives and not directives["skip"]:
        raise SystemExit(f"{where}: 'skip' needs a reason: <!-- doctest: skip: needs ... -->")
    return directives


def blocks_of(page):
    lines = open(page, encoding="utf-8").read().split("\n")
    out, i, pending = [], 0, None
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*<!--\s*doctest:(.*)-->\s*$", line)
        if m:
            pending = parse_directives(m.group(1), f"{page}:{i + 1}")
            i += 1
            continue
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            indent, marker, lang = fence.group(1), fence.group(2), fence.group(3).lower()
            body, j = [], i + 1
            while j < len(lines) and not lines[j].strip().startswith(marker):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
                j += 1
            out.append(Block(page, i + 1, lang, "\n".join(body), pending or {}))
            pending, i = None, j + 1
            continue
        if line.strip():
            pending = None  # a marker applies to the block right after it
        i += 1
    return out


def console_commands(text):
    """(commands, shown output lines) of a console block."""
    commands, shown, current = [], [], None
    for line in text.split("\n"):
        if current is not None:
            current.append(line)
            if not line.endswith("\\"):
                commands.append("\n".join(current))
                current = None
        elif line.startswith("$ "):
            if line.endswith("\\"):
                current = [line[2:]]
            else:
                commands.append(line[2:])
        else:
            shown.append(line)
    return commands, shown


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stand_ins(text, where):
    """{"HOST:PORT" (HOST as written, "" when only a port): [model names]} of a stand-in marker."""
    servers = {}
    for entry in text.split():
        model, at, address = entry.rpartition("@")
        if not at or not model or not address.rsplit(":", 1)[-1].isdigit():
            raise SystemExit(f"{where}: stand-in '{entry}' is not MODEL@[HOST:]PORT")
        servers.setdefault(address, []).append(model)
    return servers


def wait_for_port(port, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(process):
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def make_store(chimera, home, env):
    """~/.ollama/models with tiny dummy-weight models under real-looking names."""
    store = os.path.join(home, ".ollama", "models")
    os.makedirs(os.path.join(store, "blobs"))
    models = [("gemma3", "latest", "gemma3"), ("gemma3", "1b", "gemma3"), ("llama3.2", "1b", "llama")]
    for name, tag, arch in models:
        gguf = os.path.join(home, f"{arch}-tiny.gguf")
        if not os.path.exists(gguf):
            # A 32k context, as the real models have: the tiny synthetic vocabulary spends about
            # four times the real one's tokens on the same prompt.
            subprocess.run([chimera, "model", "synth", "--arch", arch, "--size", "tiny",
                            "--ctx", "32768", "-o", gguf],
                           env=env, check=True, capture_output=True)
        data = open(gguf, "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        blob = os.path.join(store, "blobs", "sha256-" + digest)
        if not os.path.exists(blob):
            shutil.copyfile(gguf, blob)
        manifest_dir = os.path.join(store, "manifests", "registry.ollama.ai", "library", name)
        os.makedirs(manifest_dir, exist_ok=True)
        manifest = {"schemaVersion": 2, "layers": [{
            "mediaType": "application/vnd.ollama.image.model",
            "digest": "sha256:" + digest, "size": len(data)}]}
        with open(os.path.join(manifest_dir, tag), "w") as f:
            json.dump(manifest, f)
    for name in os.listdir(home):
        if name.endswith("-tiny.gguf"):
            os.remove(os.path.join(home, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chimera", required=True)
    ap.add_argument("--binary-dir", required=True)
    ap.add_argument("--expect-failure", action="store_true",
                    help="the runner's own test: succeed only when the page fails (a broken page)")
    ap.add_argument("page")
    args = ap.parse_args()
    chimera = os.path.abspath(args.chimera)
    try:
        blocks = blocks_of(args.page)
    except SystemExit as e:
        print(e, file=sys.stderr)
        if args.expect_failure:
            print(f"{args.page}: refused, as this broken page must")
            return 0
        return 2

    work = tempfile.mkdtemp(prefix="chimera-doctest-")
    home = os.path.join(work, "home")
    cwd = os.path.join(work, "cwd")
    os.makedirs(home)
    os.makedirs(cwd)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHIMERA_", "OLLAMA_", "XDG_")) and k not in ("OPENAI_API_KEY",)}
    env.update({
        "HOME": home,
        "PATH": os.path.dirname(chimera) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
        # The real vocabularies may be fetched on this machine; a new user has none.
        "CHIMERA_VOCAB_DIR": os.path.join(work, "no-vocab"),
    })
    make_store(chimera, home, env)

    shown = subprocess.run([chimera, "config", "show", "--json"], env=env, check=True,
                           capture_output=True, text=True).stdout
    share = json.loads(shown)["paths"]["share"]

    # Every HOST:PORT a stand-in serves gets a free loopback port (Ollama's 11434 is `port`).
    stand_in_ports = {}
    for block in blocks:
        if "stand-in" in block.directives:
            for address in stand_ins(block.directives["stand-in"], block.where()):
                if address not in stand_in_ports:
                    number = address.rsplit(":", 1)[-1]
                    stand_in_ports[address] = port if number == "11434" else free_port()

    def substitute(text):
        for address, free in stand_in_ports.items():
            if ":" in address:  # a remote host: the whole HOST:PORT becomes the loopback server
                text = text.replace(address, f"127.0.0.1:{free}")
            elif address != "11434":
                text = re.sub(r"(?<=:)" + address + r"\b|(?<=--port )" + address + r"\b", str(free),
                              text)
        text = re.sub(r"\b11434\b", str(port), text)
        text = text.replace("/usr/share/chimera", share)
        return text.replace("build/release", os.path.abspath(args.binary_dir))

    ran, skipped, failures, background = 0, [], [], []
    try:
        for block in blocks:
            d = block.directives
            if block.lang not in RUN_LANGS:
                if "file" in d:
                    name = d["file"]
                    path = os.path.join(home, name[2:]) if name.startswith("~/") else os.path.join(cwd, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(block.text + "\n")
                continue
            if "skip" in d:
                skipped.append(f"{block.where()}: {d['skip']}")
                continue
            if block.lang == "console":
                commands, shown = console_commands(block.text)
                script = "\n".join(commands)
            else:
                script, shown = block.text, []
            script = "set -eo pipefail\n" + substitute(script)
            timeout = float(d.get("timeout", 300))
            print(f"--- {block.where()} ({block.lang}{', background' if 'background' in d else ''})",
                  flush=True)
            if "background" in d:
                log = open(os.path.join(work, f"background-{block.line}.log"), "w")
                process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
                background.append((block, process, log.name))
                wait = d.get("wait-port")
                if wait and not wait_for_port(int(substitute(wait)), process):
                    failures.append(f"{block.where()}: the server did not accept connections on "
                                    f"port {substitute(wait)}:\n" + open(log.name).read()[-3000:])
                    break
                ran += 1
                continue
            servers = []
            for address, models in stand_ins(d.get("stand-in", ""), block.where()).items():
                free = stand_in_ports[address]
                # A long context at launch, as vLLM and llama.cpp servers are usually started
                # (an OpenAI-compatible server fixes it; requests cannot raise it).
                command = [chimera, "serve", "--port", str(free), "--ctx", "16384", "--parallel", "2"]
                for model in models:
                    command += ["-m", f"{model}=ollama:gemma3"]
                print(f"    stand-in for {address}: chimera serve on 127.0.0.1:{free} serving "
                      f"{', '.join(models)} (the tiny gemma3 model)", flush=True)
                log = open(os.path.join(work, f"stand-in-{block.line}-{free}.log"), "w")
                server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
                servers.append(server)
                if not wait_for_port(free, server):
                    failures.append(f"{block.where()}: the stand-in server for {address} did not "
                                    f"start:\n" + open(log.name).read()[-3000:])
            if failures:
                for server in servers:
                    stop(server)
                break
            started = time.monotonic()
            process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop(process)
                output = process.communicate()[0]
                failures.append(f"{block.where()}: still running after {timeout:.0f} s\n{script}")
                break
            finally:
                for server in servers:
                    stop(server)
            output = output.decode("utf-8", "replace")
            ran += 1
            expected = int(d.get("exit", 0))
            print(output[-2000:], end="" if output.endswith("\n") else "\n")
            print(f"    exit {process.returncode}, {time.monotonic() - started:.1f} s", flush=True)
            if process.returncode != expected:
                failures.append(f"{block.where()}: exit {process.returncode}, expected {expected}\n"
                                f"{script}\n--- output\n{output[-4000:]}")
                break
            lines = output.split("\n")
            for shown_line in shown:
                m = re.match(r"^([A-Za-z][A-Za-z0-9 _-]*):( |$)", shown_line)
                if m and not any(l.startswith(m.group(1) + ":") for l in lines):
                    failures.append(f"{block.where()}: the excerpt shows '{m.group(1)}: ...', which "
                                    f"the command no longer prints\n--- output\n{output[-4000:]}")
                    break
            if failures:
                break
    finally:
        for block, process, log in background:
            stop(process)
        if not failures or args.expect_failure:
            shutil.rmtree(work, ignore_errors=True)

    for s in skipped:
        print(f"skipped {s}")
    print(f"{args.page}: {ran} blocks run, {len(skipped)} skipped")
    if failures:
        for f in failures:
            print(f"FAILED {f}", file=sys.stderr)
        for block, process, log in background:
            print(f"--- background {block.where()} log:\n" + open(log).read()[-3000:], file=sys.stderr)
        if args.expect_failure:
            print(f"{args.page}: failed, as this broken page must")
            return 0
        print(f"(working folder kept: {work})", file=sys.stderr)
        return 1
    if args.expect_failure:
        print(f"FAILED {args.page}: a broken page passed: the runner cannot catch what it shows",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
