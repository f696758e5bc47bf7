"""Run pytest for each mutant in a process forked from a warm interpreter (`make mutation`).

Most of a mutant's test run was spent starting Python and importing pytest, numpy,
scikit-learn (pandas, scipy) and the kubernetes client: 1 to 4 s against 0.1 to 2 s of tests.
`serve SOCKET` imports those third-party libraries (and TensorFlow) once, and nothing of distml or of the
tests (it checks); `run SOCKET PYTEST-ARGS...` (cosmic-ray's test command) asks it to fork
and run `pytest.main(PYTEST-ARGS)` in the child, with the client's working directory and
environment, and exits with pytest's status, printing its output. Each child imports
distml's modules afresh from the (mutated) sources and writes no bytecode, so it tests the
mutant as a new interpreter would. A child is killed if its client goes away (cosmic-ray's
per-mutant timeout kills the client).
"""

import gc
import json
import os
import select
import signal
import socket
import sys
import tempfile

# tensorflow: for the one TensorFlow test of a target (test_signature_contract); importing it
# starts no thread, its runtime starts in the child that first runs an op.
PRELOAD = [
    "pytest",
    "numpy",
    "PIL.Image",
    "sklearn.metrics",
    "yaml",
    "kubernetes.client",
    "kubernetes.config",
    "tensorflow",
]
PROJECT_MODULES = ("distml", "components", "pipelines", "tests")


def serve(path):
    import importlib

    sys.dont_write_bytecode = True
    for name in PRELOAD:
        importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in PROJECT_MODULES)
    assert not loaded, f"the warm interpreter must not import project modules: {loaded}"
    gc.freeze()  # pytest collects garbage at exit: without this it walks every preloaded object
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    print(f"warm pytest ready on {path}", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            handle(conn)


def handle(conn):
    request = json.loads(conn.makefile("rb").readline())
    with tempfile.TemporaryFile() as output:
        child = os.fork()
        if child == 0:  # pragma: no cover (runs in the child)
            code = 3
            try:
                os.dup2(output.fileno(), 1)
                os.dup2(output.fileno(), 2)
                sys.stdout = os.fdopen(1, "w", closefd=False)
                sys.stderr = os.fdopen(2, "w", closefd=False)
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                import pytest

                code = int(pytest.main(request["args"]))
            except BaseException as error:  # noqa: BLE001 (anything: report it as a failure)
                print(f"warm pytest: {error!r}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        code = wait(child, conn)
        output.seek(0)
        conn.sendall(output.read() + f"\n{code}\n".encode())


def wait(child, conn):
    """The child's exit status; kill it if the client disconnects first."""
    pidfd = os.pidfd_open(child)
    try:
        while True:
            ready, _, _ = select.select([pidfd, conn], [], [])
            if conn in ready and not conn.recv(1, socket.MSG_PEEK):
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                return -signal.SIGKILL
            if pidfd in ready:
                return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    finally:
        os.close(pidfd)


def run(path, args):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    conn.sendall(json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode() + b"\n")
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    text, _, code = reply.decode(errors="replace").rstrip("\n").rpartition("\n")
    sys.stdout.write(text + "\n")
    return int(code) if code.lstrip("-").isdigit() else 3


if __name__ == "__main__":
    command, socket_path, *rest = sys.argv[1:]
    if command == "serve":
        serve(socket_path)
    else:
        code = run(socket_path, rest)
        sys.exit(code if code >= 0 else 1)
