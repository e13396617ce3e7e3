"""The installed `singsynth` command (cli.console): once torch is loaded it exits without tearing the interpreter
down, and still flushes what was printed, keeps main()'s exit code, runs exit handlers, and takes a reader that
left (`| head`) quietly."""
import subprocess
import sys

# a process with torch loaded whose main() is the snippet given; console() then exits as it would after a command
PROGRAM = """
import atexit, sys, torch
from singsynth import cli
def main():
{body}
cli.main = main
cli.console()
"""


def run(body: str, **kwargs) -> subprocess.CompletedProcess:
    code = PROGRAM.format(body="\n".join("    " + line for line in body.splitlines()))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kwargs)


def test_block_buffered_output_is_all_written_and_the_exit_code_kept(tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as f:  # a file: stdout is block-buffered, much of it still in the buffer at exit
        done = subprocess.run([sys.executable, "-c", PROGRAM.format(body="    print('line\\n' * 50000, end='')\n"
                                                                         "    return 3")],
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert out.read_text() == "line\n" * 50000


def test_exit_handlers_run(tmp_path):
    marker = tmp_path / "marker"
    done = run(f"atexit.register(lambda: open({str(marker)!r}, 'w').close())\nreturn 0")
    assert done.returncode == 0, done.stderr
    assert marker.exists()


def test_a_reader_that_left_is_no_error():
    # what main() does when the reader of its output leaves: stderr closed, exit 0
    body = """try:
    for _ in range(200):
        print('x' * 10000, flush=True)
except BrokenPipeError:
    sys.stderr.close()
return 0"""
    code = PROGRAM.format(body="\n".join("    " + line for line in body.splitlines()))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
