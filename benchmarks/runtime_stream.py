"""The runtime archive over a rate-limited link: download then extract, or extract while it downloads.

    .venv/bin/python benchmarks/runtime_stream.py [--rates 10,25,50,0] [--runs 3]

The archive is this interpreter packed as the production ones (support.runtime_mirror's
cache), served from loopback at each rate in MB/s (0: unlimited). Each run times
`download.download` followed by `tar_zst.extract_tar_zst` (the python layer until the
streamed step), then `unpack_on_arrival.download_and_extract`, and prints the medians. The
buildpack's own benchmark serves the runtime on loopback, where the download takes 0.1 to 0.3 s:
this one shows what the overlap saves on a real network.
"""

from __future__ import annotations

import argparse
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import ARCH, ARCHIVE_CACHE, PYTHON_VERSION

from python_buildpack.files.tar_zst import extract_tar_zst
from python_buildpack.runtime.download import download
from python_buildpack.runtime.unpack_on_arrival import download_and_extract
from python_buildpack.stacks.table import STACK_TO_UBUNTU
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive

_BLOCK = 1 << 16


@contextmanager
def throttled(data: bytes, rate: float) -> Iterator[str]:
    """Serves `data` at every path, `rate` bytes per second (0: as fast as loopback goes)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            start = time.monotonic()
            for offset in range(0, len(data), _BLOCK):
                self.wfile.write(data[offset : offset + _BLOCK])
                ahead = start + (offset + _BLOCK) / rate - time.monotonic() if rate else 0
                if ahead > 0:
                    time.sleep(ahead)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/python.tar.zst"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,25,50,0", help="comma-separated MB/s (0: unlimited)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ubuntu = STACK_TO_UBUNTU["scalingo-22"]
        archive = make_runtime_archive(
            Path(sys.base_prefix), root / "mirror", PYTHON_VERSION, ubuntu, ARCH, cache_dir=ARCHIVE_CACHE
        )
        data, pin = archive.read_bytes(), file_sha256(archive)
        print(f"archive: {archive.name}, {len(data) / 1e6:.1f} MB\n")
        print("| link | download | then extract | total | extracted while downloading | saved |")
        print("| --- | --- | --- | --- | --- | --- |")
        for rate in (float(r) for r in args.rates.split(",")):
            fetched: list[float] = []
            extracted: list[float] = []
            streamed: list[float] = []
            with throttled(data, rate * 1e6) as url:
                for run in range(args.runs):
                    work = root / f"run-{run}"
                    start = time.perf_counter()
                    download(url, work / "python.tar.zst", sha256=pin, progress_interval=3600)
                    middle = time.perf_counter()
                    extract_tar_zst(work / "python.tar.zst", work / "separate")
                    end = time.perf_counter()
                    download_and_extract(url, work / "streamed", sha256=pin, progress_interval=3600)
                    streamed.append(time.perf_counter() - end)
                    fetched.append(middle - start)
                    extracted.append(end - middle)
                    shutil.rmtree(work)
            down, ext, both = (statistics.median(x) for x in (fetched, extracted, streamed))
            link = f"{rate:g} MB/s" if rate else "loopback, unlimited"
            saved = down + ext - both
            print(f"| {link} | {down:.2f} s | {ext:.2f} s | {down + ext:.2f} s | {both:.2f} s | {saved:.2f} s |")


if __name__ == "__main__":
    main()
