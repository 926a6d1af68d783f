"""python3 -m fakecluster serve --dir DIR [--scenario demo|scale:N|PATH] [--k8s-version 1.32|1.26] [--port N]"""

import argparse
import asyncio
import logging
import os
import sys

from .server import serve


def main(argv=None):
    p = argparse.ArgumentParser(prog="fakecluster")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the fake API server in the foreground")
    s.add_argument("--dir", required=True)
    s.add_argument("--scenario", default="demo")
    s.add_argument("--k8s-version", default="1.32")
    s.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "serve":
        asyncio.run(serve(args.dir, args.scenario, args.k8s_version, args.port))
        # Everything is cleaned up (runtime.shutdown ran); do not wait for idle helper threads.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
