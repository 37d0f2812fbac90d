"""`python -m web --host 127.0.0.1 --port 8000`: serve the catalog web with uvicorn."""
from __future__ import annotations

import argparse
import logging

import uvicorn

from common.settings import settings_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web", description="知识城数据资源目录 Knowledge City data-resource catalog")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings_or_exit("python -m web")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("web.app:app", host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)


if __name__ == "__main__":
    main()
