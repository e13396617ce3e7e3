"""The installed `singsynth` command (cli.console): it exits without tearing the interpreter down, with torch
loaded or not, and still flushes what was printed, keeps main()'s exit code, runs exit handlers, and takes a reader
that left (`| head`) quietly."""
import subprocess
import sys

import pytest

# a process whose main() is the snippet given, torch loaded (a command that ran the model) or not (a render of
# cached notes); console() then exits as it would after a command
PROGRAM = """
import atexit, sys{torch}
from singsynth import cli
def main():
{body}
cli.main = main
cli.console()
"""


@pytest.fixture(params=[", torch", ""], ids=["torch loaded", "torch not loaded"])
def program(request) -> str:
    return PROGRAM.replace("{torch}", request.param)


def source(program: str, body: str) -> str:
    return program.format(body="\n".join("    " + line for line in body.splitlines()))


def run(program: str, body: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", source(program, body)], capture_output=True, text=True, timeout=120,
                          **kwargs)


def test_block_buffered_output_is_all_written_and_the_exit_code_kept(tmp_path, program):
    out = tmp_path / "out.txt"
    with open(out, "w") as f:  # a file: stdout is block-buffered, much of it still in the buffer at exit
        done = subprocess.run([sys.executable, "-c", source(program, "print('line\\n' * 50000, end='')\nreturn 3")],
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert out.read_text() == "line\n" * 50000


def test_exit_handlers_run(tmp_path, program):
    marker = tmp_path / "marker"
    done = run(program, f"atexit.register(lambda: open({str(marker)!r}, 'w').close())\nreturn 0")
    assert done.returncode == 0, done.stderr
    assert marker.exists()


def test_a_reader_that_left_is_no_error(program):
    # what main() does when the reader of its output leaves: stderr closed, exit 0
    body = """try:
    for _ in range(200):
        print('x' * 10000, flush=True)
except BrokenPipeError:
    sys.stderr.close()
return 0"""
    proc = subprocess.Popen([sys.executable, "-c", source(program, body)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""


def test_a_crash_in_compiled_code_prints_where_each_thread_was():
    program = PROGRAM.replace("{torch}", "")
    done = run(program, "import ctypes\nctypes.string_at(0)  # a read at address 0, as a faulty native library makes")
    assert done.returncode != 0
    assert "Segmentation fault" in done.stderr and "in main" in done.stderr, done.stderr
