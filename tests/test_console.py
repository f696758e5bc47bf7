"""What libraries print reaches a distml command's terminal only when it matters: TensorFlow's
start-up banners (written to file descriptor 2 during its import, which TF_CPP_MIN_LOG_LEVEL does
not silence) and library deprecation warnings go to the debug log (`distml -v`)."""

import os
import re
import subprocess
import sys
import textwrap

from tests.conftest import run_cli

BANNER = "I0000 port.cc:153] oneDNN custom operations are on. You may see slightly different results"


def run_python(code, tmp_path):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        timeout=120,
    )


def test_a_noisy_import_keeps_its_other_output_and_only_its_banners_go_to_the_debug_log(tmp_path):
    # A module that writes to file descriptor 2 at import, as a native library does.
    (tmp_path / "noisy_native.py").write_text(
        f"import os\nos.write(2, b'{BANNER}\\nE0000 a real problem\\n')\nVALUE = 42\n"
    )
    result = run_python(
        """
        import importlib.util, logging, os, sys
        logging.basicConfig(level=logging.DEBUG, format="log %(levelname)s %(message)s", stream=sys.stdout)
        from distml.components.common.console import quiet_native_banners
        quiet_native_banners(("noisy_native",))
        assert importlib.util.find_spec("noisy_native") is not None  # a look-up is not the import
        import noisy_native
        print("imported", noisy_native.VALUE, type(noisy_native.__loader__).__name__)
        os.write(2, b"after the import\\n")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "E0000 a real problem\nafter the import\n"
    assert f"log DEBUG {BANNER}" in result.stdout
    assert "imported 42 SourceFileLoader" in result.stdout  # the module keeps its own loader


def test_a_library_that_aborts_its_import_is_still_heard(tmp_path):
    # What TensorFlow does on a CPU without the instructions it was built for.
    (tmp_path / "aborting_native.py").write_text(
        f"import os\nos.write(2, b'{BANNER}\\nF0000 compiled to use AVX instructions, not available\\n')\nos.abort()\n"
    )
    result = run_python(
        """
        from distml.components.common.console import quiet_native_banners
        quiet_native_banners(("aborting_native",))
        import aborting_native
        """,
        tmp_path,
    )
    assert result.returncode == -6  # SIGABRT
    assert result.stderr == "F0000 compiled to use AVX instructions, not available\n"


def test_a_deprecation_warning_is_a_debug_line_and_any_other_warning_a_warning(tmp_path):
    result = run_python(
        """
        import logging, sys, warnings
        logging.basicConfig(level=logging.DEBUG, format="log %(levelname)s %(message)s", stream=sys.stdout)
        from distml.components.common.console import log_library_warnings
        log_library_warnings()
        class FastAPIDeprecationWarning(UserWarning): pass
        warnings.warn("ORJSONResponse is deprecated", FastAPIDeprecationWarning)
        warnings.warn("old API", DeprecationWarning)
        warnings.warn("this input looks wrong", RuntimeWarning)
        """,
        tmp_path,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("log DEBUG ORJSONResponse is deprecated (") and "FastAPIDeprecationWarning" in lines[0]
    assert lines[1].startswith("log DEBUG old API (") and "DeprecationWarning" in lines[1]
    assert lines[2].startswith("log WARNING this input looks wrong (") and "RuntimeWarning" in lines[2]
    assert len(lines) == 3


def test_tensorflow_banners_are_in_the_verbose_log_only(tmp_path):
    quiet = run_cli("ingest", "--dataset", "digits", "--output", tmp_path / "a", "--num-shards", "1")
    assert "oneDNN" not in quiet.stderr and "absl" not in quiet.stderr, quiet.stderr
    assert quiet.stderr.splitlines()[-1].endswith("examples in 1 shards per split")  # distml's own line stays
    verbose = run_cli("-v", "ingest", "--dataset", "digits", "--output", tmp_path / "b", "--num-shards", "1")
    assert re.search(r"^\d\d:\d\d:\d\d DEBUG I0000 .*oneDNN custom operations are on", verbose.stderr, re.M)
